/**
 * docker-style random container names (`adjective_name`), for a container
 * run without --name, and random container ids.
 * @module
 */

/** A new container id: 64 random hex digits, as docker's. */
export function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
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
