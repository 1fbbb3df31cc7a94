import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
// @ts-expect-error: a plain-JS fixture module shared with scripts/crash-loop.mjs
import { checkBatches, crashLoop } from './fixtures/crash-loop.mjs';

const directory = mkdtempSync(join(tmpdir(), 'ltm-parquet-crash-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const ITERATIONS = Number(process.env.LTM_CRASH_ITERATIONS ?? 6);

test('the checker rejects a half-visible batch and a missing acknowledged batch (it can fail)', () => {
  const row = (b: number, i: number) => ({ key: `b${b}-${i}`, value: JSON.stringify({ b, i }) });
  const full = [0, 1, 2, 3].map((i) => row(5, i));
  expect(checkBatches([...[3, 4].flatMap((b) => [0, 1, 2, 3].map((i) => row(b, i))), ...full], 5)).toBe(5);
  expect(() => checkBatches([...[3, 4].flatMap((b) => [0, 1, 2, 3].map((i) => row(b, i))), ...full.slice(0, 3)], 5)).toThrow(/half/);
  expect(() => checkBatches([3, 4].flatMap((b) => [0, 1, 2, 3].map((i) => row(b, i))), 5)).toThrow(/acknowledged batch 5 is missing/);
  expect(() => checkBatches([...[2, 3, 4].flatMap((b) => [0, 1, 2, 3].map((i) => row(b, i))), ...full], 5)).toThrow(/expected exactly/);
});

test(`a writer killed with SIGKILL at random points ${ITERATIONS} times leaves every acknowledged batch and no half batch`, async () => {
  const summary = await crashLoop({ dir: directory, iterations: ITERATIONS, seed: 7 });
  expect(summary.iterations).toBe(ITERATIONS);
}, 600_000);

test(`three writers at once, each killed with SIGKILL at its own random point, ${ITERATIONS} times: every writer's acknowledged batches are there and none is half visible`, async () => {
  const summary = await crashLoop({ dir: join(directory, 'three'), iterations: ITERATIONS, seed: 17, writers: 3 });
  expect(summary.iterations).toBe(ITERATIONS);
  // They raced (so claims spread, and some writers died between winning a number and filling the ones below).
  expect(summary.lostRaces).toBeGreaterThan(0);
}, 600_000);
