/**
 * The names of a container's network objects, derived from its id alone, so
 * that they can be recorded in its state before any of them exists (and
 * without loading the network code: a container that joins no network pays
 * nothing for this module).
 * @module
 */

/** The host end of a container's veth pair: `veth` and the id's first 8 hex digits. */
export function vethName(containerId: string): string {
  return `veth${containerId.slice(0, 8)}`;
}

/** The comment that tags a container's packet filter rules. */
export function ruleComment(containerId: string): string {
  return `ctr:${containerId}`;
}
