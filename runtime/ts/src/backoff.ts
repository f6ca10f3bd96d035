// SPDX-License-Identifier: MIT
//
// backoff.ts: the reconnection delays, the same pure function as the C client's
// (runtime's backoff.c): the delay before attempt n (n = 1, 2, ...) is
// initialDelayMs * backoffMultiplier^(n-1), at most maxDelayMs, then moved by a random
// amount of up to +-jitterPercent of itself and kept at most maxDelayMs. It schedules
// nothing and draws no random number itself, so it is unit-tested directly.

export interface BackoffOptions {
  initialDelayMs?: number;    // default 1000
  maxDelayMs?: number;        // default 30000
  backoffMultiplier?: number; // default 1.5; below 1 is taken as 1
  jitterPercent?: number;     // default 20; 0: no jitter; at most 100
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
  multiplier: number;
  jitterPercent: number;
}

export function backoffFromOptions(o: BackoffOptions): Backoff {
  const initialMs = o.initialDelayMs && o.initialDelayMs > 0 ? o.initialDelayMs : 1000;
  let maxMs = o.maxDelayMs && o.maxDelayMs > 0 ? o.maxDelayMs : 30000;
  if (maxMs < initialMs) maxMs = initialMs;
  let multiplier = o.backoffMultiplier && o.backoffMultiplier > 0 ? o.backoffMultiplier : 1.5;
  if (multiplier < 1) multiplier = 1;
  const j = o.jitterPercent === undefined ? 20 : Math.floor(o.jitterPercent);
  const jitterPercent = j < 0 ? 0 : j > 100 ? 100 : j;
  return { initialMs, maxMs, multiplier, jitterPercent };
}

/** The delay before attempt `attempt` (from 1); `rnd` is a random integer in [0, 2^32). */
export function backoffDelay(b: Backoff, attempt: number, rnd: number): number {
  let d = b.initialMs;
  // multiply step by step and stop at the cap: no overflow for any attempt
  for (let i = 1; i < attempt && d < b.maxMs; i++) d *= b.multiplier;
  if (d > b.maxMs) d = b.maxMs;
  let base = Math.floor(d);
  if (b.jitterPercent > 0 && base > 0) {
    // spread uniformly over [base - span, base + span], then cap again
    const span = Math.floor((base * b.jitterPercent) / 100);
    const v = base - span + (rnd % (2 * span + 1));
    base = v > b.maxMs ? b.maxMs : v;
  }
  return base;
}
