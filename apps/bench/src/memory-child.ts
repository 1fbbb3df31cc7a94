/**
 * One side's resident-memory measurement in a process of its own, run by `measureResidentMemory` as
 * `node --expose-gc memory-child.js <ours|peer> <n> <seed> <batchSize>`; prints a `MemorySample` as JSON.
 */
import { loadAndMeasure } from './memory.js';

const [side, nText, seedText, batchText] = process.argv.slice(2);
const load = { n: Number(nText), seed: Number(seedText), batchSize: Number(batchText) };
const gc = (globalThis as { gc?: () => void }).gc;
if ((side !== 'ours' && side !== 'peer') || !(load.n > 0) || !(load.batchSize > 0) || gc === undefined) {
  throw new Error('usage: node --expose-gc memory-child.js <ours|peer> <n> <seed> <batchSize>');
}
process.stdout.write(`${JSON.stringify(await loadAndMeasure(side, load, gc))}\n`);
