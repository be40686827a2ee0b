/**
 * docker-style random container names (`adjective_name`), for a container
 * run without --name, random container ids, and random hex for other ids.
 * @module
 */

/**
 * `bytes` random bytes as lowercase hex: ids and temporary names (here, on
 * every command's path, so that no module of its own is loaded for it).
 */
export function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** A new container id: 64 random hex digits, as docker's. */
export function randomId(): string {
  return randomHex(32);
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fond",
  "keen",
  "lucid",
  "merry",
  "nimble",
  "quiet",
  "sharp",
  "tender",
  "witty",
  "bold",
  "busy",
  "clever",
  "cool",
  "dreamy",
  "gentle",
  "happy",
  "jolly",
  "kind",
  "proud",
  "silly",
  "wise",
];
const NAMES = [
  "curie",
  "dijkstra",
  "hopper",
  "knuth",
  "lamport",
  "lovelace",
  "ritchie",
  "shannon",
  "thompson",
  "torvalds",
  "turing",
  "wirth",
  "babbage",
  "cerf",
  "hamilton",
  "kay",
  "liskov",
  "mccarthy",
  "noether",
  "pike",
  "backus",
  "allen",
  "lamarr",
  "goldberg",
];

/** A docker-like random name, e.g. "keen_hopper". */
export function randomName(): string {
  const b = crypto.getRandomValues(new Uint8Array(2));
  return `${ADJECTIVES[b[0] % ADJECTIVES.length]}_${NAMES[b[1] % NAMES.length]}`;
}
