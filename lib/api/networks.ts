/**
 * The Engine API's network routes, answered with ctr's bridge networks: the
 * functions `ctr network create|ls|inspect|rm|prune` call, with the same
 * events. connect and disconnect join and leave a running container's
 * networks at once, and change what one that is not running joins at its
 * start (engine/endpoints.ts).
 * @module
 */

import { HttpError, type Request, type Response } from "./http.ts";
import { type ApiContext, jsonBody, type Router } from "./router.ts";
import { queryFilters } from "./filters.ts";
import { connectContainer, disconnectContainer } from "../engine/endpoints.ts";
import {
  createNetwork,
  filterNetworks,
  NETWORK_FILTERS,
  networkInspectObject,
  networkName,
  pruneAllNetworks,
  removeNetwork,
} from "../cli/network.ts";
import { labelsMatch } from "../cli/filters.ts";

type Json = Record<string, unknown>;

/** docker's names of the networks that are not records: they cannot be removed or joined. */
const PREDEFINED = new Set(["bridge", "host", "none"]);

const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);

/** The one IPAM config a ctr network takes: a subnet and its gateway. */
function ipamOf(ipam: unknown): { subnet?: string; gateway?: string } {
  const i = (ipam ?? {}) as Json;
  const driver = text(i.Driver);
  if (driver !== undefined && driver !== "default") {
    throw new HttpError(400, `IPAM.Driver: only the default driver, not ${driver}`);
  }
  const configs = (i.Config ?? []) as Json[];
  if (configs.length > 1) {
    throw new HttpError(400, "IPAM.Config: a ctr network has one IPv4 subnet");
  }
  const c = configs[0] ?? {};
  for (const k of ["IPRange", "AuxiliaryAddresses"]) {
    if (c[k] !== undefined && c[k] !== "" && c[k] !== null) {
      throw new HttpError(400, `IPAM.Config.${k}: not supported by ctr networks`);
    }
  }
  return { subnet: text(c.Subnet), gateway: text(c.Gateway) };
}

/** The fields of create a bridge of ctr's has no use for refuse their non-default values. */
function checkUnsupported(b: Json): void {
  if (b.EnableIPv6 === true) throw new HttpError(400, "EnableIPv6: ctr networks are IPv4 only");
  if (b.Ingress === true) throw new HttpError(400, "Ingress: ctr has no swarm");
  if (b.ConfigOnly === true) throw new HttpError(400, "ConfigOnly: ctr has no such networks");
}

/** The driver's options of a create request (docker's keys; strings). */
function driverOptions(b: Json): Record<string, string> {
  if (b.Options === undefined || b.Options === null) return {};
  if (typeof b.Options !== "object" || Array.isArray(b.Options)) {
    throw new HttpError(400, "Options: an object of strings");
  }
  return Object.fromEntries(Object.entries(b.Options as Json).map(([k, v]) => [k, `${v}`]));
}

/** The routes of networks. */
export class NetworkRoutes {
  constructor(readonly ctx: ApiContext, r: Router) {
    r.add("GET", "/networks", (q, res) => this.#list(q, res));
    r.add("POST", "/networks/create", (q, res) => this.#create(q, res));
    r.add("POST", "/networks/prune", (q, res) => this.#prune(q, res));
    r.add("GET", "/networks/([^/]+)", (_q, res, [ref]) => res.json(200, this.#inspect(ref)));
    r.add("DELETE", "/networks/([^/]+)", (_q, res, [ref]) => this.#remove(res, ref));
    r.add("POST", "/networks/([^/]+)/connect", (q, res, [ref]) => this.#connect(q, res, ref));
    r.add("POST", "/networks/([^/]+)/disconnect", (q, res, [ref]) => this.#disconnect(q, res, ref));
  }

  /** A network's name by name, id or id prefix; 404 as docker's. */
  #name(ref: string): string {
    const name = networkName(this.ctx.g, ref);
    if (name === undefined) throw new HttpError(404, `network ${ref} not found`);
    return name;
  }

  #inspect(ref: string): Json {
    const n = networkInspectObject(this.ctx.g, ref);
    if (!n) throw new HttpError(404, `network ${ref} not found`);
    return n;
  }

  async #list(req: Request, res: Response): Promise<void> {
    await res.json(200, filterNetworks(this.ctx.g, queryFilters(req, NETWORK_FILTERS)));
  }

  /** docker's create: a name in use is a 409 (ctr never makes two networks of one name). */
  async #create(req: Request, res: Response): Promise<void> {
    const b = jsonBody(req);
    const name = text(b.Name);
    if (!name) throw new HttpError(400, "Name: a network needs a name");
    if (networkName(this.ctx.g, name) === name) {
      throw new HttpError(409, `network with name ${name} already exists`);
    }
    checkUnsupported(b);
    const labels = Object.fromEntries(
      Object.entries((b.Labels ?? {}) as Json).map(([k, v]) => [k, `${v}`]),
    );
    const n = await createNetwork(this.ctx.g, {
      name,
      driver: text(b.Driver),
      labels,
      options: driverOptions(b),
      internal: b.Internal === true,
      attachable: b.Attachable === true,
      ...ipamOf(b.IPAM),
    }).catch((e) => {
      const m = (e as Error).message;
      if (/a network of that name exists/.test(m)) throw new HttpError(409, m);
      throw /^(unsupported network driver|Cannot create network|Invalid |Option )/.test(m)
        ? new HttpError(400, m)
        : e;
    });
    await res.json(201, { Id: n.id, Warning: "" });
  }

  /** docker: 403 for the predefined networks and for one with containers on it. */
  async #remove(res: Response, ref: string): Promise<void> {
    const name = this.#name(ref);
    if (PREDEFINED.has(name)) {
      throw new HttpError(403, `${name} is a pre-defined network and cannot be removed`);
    }
    try {
      await removeNetwork(this.ctx.g, name);
    } catch (e) {
      const m = (e as Error).message;
      if (/in use by/.test(m)) throw new HttpError(403, `error while removing network: ${m}`);
      throw e;
    }
    await res.send(204);
  }

  async #prune(req: Request, res: Response): Promise<void> {
    const f = queryFilters(req, ["label"]);
    const r = await pruneAllNetworks(this.ctx.g, (n) => labelsMatch(f, n.labels ?? {}));
    await res.json(200, { NetworksDeleted: r.deleted.map((n) => n.name) });
  }

  /** `{Container, EndpointConfig: {Aliases, IPAMConfig: {IPv4Address}}}`. */
  async #connect(req: Request, res: Response, ref: string): Promise<void> {
    const b = jsonBody(req);
    const name = this.#name(ref);
    const container = text(b.Container);
    if (!container) throw new HttpError(400, "Container: which container to connect");
    const ep = (b.EndpointConfig ?? {}) as Json;
    const ipam = (ep.IPAMConfig ?? {}) as Json;
    const aliases = Array.isArray(ep.Aliases) ? ep.Aliases.map(String) : [];
    try {
      await connectContainer(this.ctx.g, container, name, { aliases, ip: text(ipam.IPv4Address) });
    } catch (e) {
      throw endpointHttp(e);
    }
    await res.send(200);
  }

  /** `{Container, Force}`. */
  async #disconnect(req: Request, res: Response, ref: string): Promise<void> {
    const b = jsonBody(req);
    const name = this.#name(ref);
    const container = text(b.Container);
    if (!container) throw new HttpError(400, "Container: which container to disconnect");
    try {
      await disconnectContainer(this.ctx.g, container, name);
    } catch (e) {
      throw endpointHttp(e);
    }
    await res.send(200);
  }
}

/** connect and disconnect's errors as docker's codes: 403 for endpoints, 409 for a running container. */
function endpointHttp(e: unknown): unknown {
  const m = (e as Error).message ?? "";
  if (/^No such container/.test(m)) return new HttpError(404, m);
  if (/^container cannot be disconnected from host network/.test(m)) return new HttpError(400, m);
  if (/already exists in network|is not connected to network/.test(m)) {
    return new HttpError(403, m);
  }
  if (/^Cannot (dis)?connect/.test(m)) return new HttpError(409, m);
  return e;
}
