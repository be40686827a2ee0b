/**
 * The names of a container's network objects, derived from its id and the
 * endpoint's index alone, so that they can be recorded in its state before
 * any of them exists (and without loading the network code: a container that
 * joins no network pays nothing for this module).
 *
 * A container's first network is its endpoint 0 (`eth0`, `veth<8 hex>`, rules
 * tagged `ctr:<id>`); each further network it joins takes the lowest free
 * index k (`eth<k>`, `veth<8 hex>-<k>`, `ctr:<id>-<k>`).
 * @module
 */

/** The most endpoints a container has (`veth<8 hex>-<k>` stays within 15 characters). */
export const MAX_ENDPOINTS = 100;

/** The host end of a container's veth pair on endpoint k. */
export function vethName(containerId: string, endpoint = 0): string {
  const base = `veth${containerId.slice(0, 8)}`;
  return endpoint === 0 ? base : `${base}-${endpoint}`;
}

/** The comment that tags a container's packet filter rules of endpoint k. */
export function ruleComment(containerId: string, endpoint = 0): string {
  return endpoint === 0 ? `ctr:${containerId}` : `ctr:${containerId}-${endpoint}`;
}

/** The container id a rule comment names (any endpoint's), or undefined when it is no ctr tag. */
export function commentContainer(comment: string | undefined): string | undefined {
  return /^ctr:([0-9a-f]{1,64})(?:-\d{1,2})?$/.exec(comment ?? "")?.[1];
}

/** The lowest endpoint index not in `used`. */
export function freeEndpoint(used: Iterable<number>): number {
  const taken = new Set(used);
  for (let k = 0; k < MAX_ENDPOINTS; k++) if (!taken.has(k)) return k;
  throw new Error(`a container joins at most ${MAX_ENDPOINTS} networks`);
}
