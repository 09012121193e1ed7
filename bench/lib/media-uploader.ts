// A child process of `bench media`: keeps `parallel` uploads of new large photos in flight
// against a server until told to stop, so that the cart clients measured in the parent share no
// event loop with the uploads. Messages: in { url, token, parallel } then 'stop'; out 'ready',
// then { uploaded, failed } once stopped.
import sharp from 'sharp';

interface Start {
  url: string;
  token: string;
  parallel: number;
}

const photo = (seed: number) =>
  sharp({
    create: {
      width: 3000,
      height: 2000,
      channels: 3,
      background: { r: seed % 256, g: (seed * 7) % 256, b: 90 },
      noise: { type: 'gaussian', mean: 128, sigma: 20 },
    },
  })
    .jpeg({ quality: 85 })
    .toBuffer();

/** The same JPEG with a comment segment carrying `n` after its start marker: new bytes, the same picture. */
function unique(jpeg: Buffer, n: number): Buffer {
  const com = Buffer.from([0xff, 0xfe, 0x00, 0x06, 0, 0, 0, 0]);
  com.writeUInt32BE(n, 4);
  return Buffer.concat([jpeg.subarray(0, 2), com, jpeg.subarray(2)]);
}

let stopping = false;
process.on('message', (m: Start | 'stop') => {
  if (m === 'stop') {
    stopping = true;
    return;
  }
  void run(m);
});

async function run({ url, token, parallel }: Start): Promise<void> {
  const bodies = await Promise.all(Array.from({ length: 4 }, (_, i) => photo(5000 + i)));
  let n = 0;
  let uploaded = 0;
  let failed = 0;
  process.send?.('ready');
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (!stopping) {
        const i = n++;
        const res = await fetch(`${url}/media`, {
          method: 'POST',
          body: unique(bodies[i % bodies.length], i),
          headers: { authorization: `Bearer ${token}` },
        }).catch(() => undefined);
        if (res?.status === 201) uploaded++;
        else failed++;
        await res?.arrayBuffer();
        // Refused as overloaded: wait as told instead of sending 3 MB again at once.
        if (res?.status === 503) await new Promise((r) => setTimeout(r, 1000));
      }
    }),
  );
  process.send?.({ uploaded, failed });
  process.disconnect();
}
