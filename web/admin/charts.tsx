// Live charts of the last two minutes (uPlot): orders per second, revenue per second, and
// payment outcomes. Each redraws once a second from the feed's counters.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { WINDOW_S, type Feed } from './feed.js';

interface Line {
  label: string;
  key: 'orders' | 'revenue' | 'paid' | 'failed';
  color: string;
}

function Chart({ feed, title, lines }: { feed: Feed; title: string; lines: Line[] }) {
  const box = useRef<HTMLDivElement>(null);
  const [summary, setSummary] = useState('');
  useEffect(() => {
    const el = box.current!;
    const data = () => {
      const s = feed.series();
      return [s.t, ...lines.map((l) => s[l.key])] as uPlot.AlignedData;
    };
    const plot = new uPlot(
      {
        width: Math.max(240, el.clientWidth),
        height: 160,
        legend: { show: true },
        cursor: { show: false },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        series: [{}, ...lines.map((l) => ({ label: l.label, stroke: l.color, width: 2, fill: `${l.color}22` }))],
      },
      data(),
      el,
    );
    const tick = () => {
      const d = data();
      plot.setData(d);
      const totals = lines.map((l, i) => `${l.label}: ${(d[i + 1] as number[]).reduce((a, b) => a + b, 0).toLocaleString()}`);
      setSummary(`Last ${WINDOW_S} s, ${totals.join(', ')}`);
    };
    tick();
    const timer = setInterval(tick, 1000);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(240, el.clientWidth), height: 160 }));
    resize.observe(el);
    return () => {
      clearInterval(timer);
      resize.disconnect();
      plot.destroy();
    };
  }, [feed]);
  return (
    <figure class="panel chart" aria-label={title}>
      <figcaption>
        <strong>{title}</strong> <span class="meta">{summary}</span>
      </figcaption>
      <div ref={box} aria-hidden="true" />
    </figure>
  );
}

export function Charts({ feed }: { feed: Feed }) {
  return (
    <div class="charts">
      <Chart feed={feed} title="Orders per second" lines={[{ label: 'orders', key: 'orders', color: '#0b5cad' }]} />
      <Chart feed={feed} title="Revenue per second" lines={[{ label: 'revenue', key: 'revenue', color: '#1b7f3b' }]} />
      <Chart
        feed={feed}
        title="Payment outcomes"
        lines={[
          { label: 'approved', key: 'paid', color: '#1b7f3b' },
          { label: 'failed', key: 'failed', color: '#b00020' },
        ]}
      />
    </div>
  );
}
