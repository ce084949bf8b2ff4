/** A seedable PRNG (mulberry32): the same seed gives the same sequence of rolls. */
export type Random = () => number;

export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** True with the given probability; ratios 0 and 1 never consume a roll. */
export function roll(random: Random, ratio: number): boolean {
  if (ratio <= 0) return false;
  if (ratio >= 1) return true;
  return random() < ratio;
}

export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 32);
}
