/**
 * One writer process of the object-storage write phase, forked by `runWriters` with an IPC channel:
 * parent `{ type: 'open', config }` → child opens its side and answers `{ type: 'ready' }`; parent
 * `{ type: 'go', startAt, deadline }` → child writes and answers `{ type: 'done', result }`, or
 * `{ type: 'error', message }` at any point. The configuration (credentials included) travels over IPC,
 * never in argv, where any local user could read it.
 */
import { openWriter } from './writers.js';
import type { Writer, WriterConfig, WriterResult } from './writers.js';

export type ToWriter = { type: 'open'; config: WriterConfig } | { type: 'go'; startAt: number; deadline: number };
export type FromWriter = { type: 'ready' } | { type: 'done'; result: WriterResult } | { type: 'error'; message: string };

const send = (message: FromWriter): Promise<void> =>
  new Promise((resolve) => {
    if (process.send === undefined) throw new Error('writer-child.js runs as a forked child of the bench, with an IPC channel');
    process.send(message, undefined, {}, () => resolve());
  });

let writer: Writer | undefined;

process.on('message', (message: ToWriter) => {
  void handle(message).catch(async (error: unknown) => {
    await send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  });
});

async function handle(message: ToWriter): Promise<void> {
  if (message.type === 'open') {
    writer = await openWriter(message.config);
    await send({ type: 'ready' });
    return;
  }
  if (writer === undefined) throw new Error('go before open');
  const result = await writer.run(message.startAt, message.deadline);
  await writer.close();
  await send({ type: 'done', result });
  process.disconnect();
}
