// Re-renders a panel when the feed changes, at most once per animation frame (a busy shop sends
// hundreds of events a second; the screen needs at most one redraw per frame).
import { useEffect, useState } from 'preact/hooks';
import type { Feed } from './feed.js';

export function useFeed(feed: Feed): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let queued = false;
    return feed.onChange(() => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => {
        queued = false;
        setVersion((v) => v + 1);
      });
    });
  }, [feed]);
  return version;
}
