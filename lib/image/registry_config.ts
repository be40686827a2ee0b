/**
 * What ctr keeps about registries under its root:
 *
 *     ROOT/auth.json         credentials, mode 0600, in docker's config.json format:
 *                            {"auths": {"HOST": {"auth": base64("USER:PASS")}}}
 *     ROOT/registries.json   optional: {"insecure-registries": ["HOST[:PORT]", ...]},
 *                            registries reached over plain HTTP (as docker's daemon.json)
 *
 * Docker Hub's credentials are kept under docker's own key,
 * `https://index.docker.io/v1/`, so the file can be shared with docker.
 * @module
 */

import * as z from "zod";
import "../zod_setup.ts";
import { DEFAULT_DOMAIN } from "./reference.ts";
import { writeFileAtomic } from "./store.ts";
import type { Credentials } from "./registry.ts";

/** The key docker's config.json uses for Docker Hub. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
const HUB_ALIASES = [
  DOCKER_HUB_AUTH_KEY,
  "docker.io",
  "index.docker.io",
  "registry-1.docker.io",
  "https://index.docker.io/v1",
];

const AuthFile = z.object({
  auths: z.record(z.string(), z.object({ auth: z.string().optional() }).loose()).default({}),
}).loose();
type AuthFile = z.infer<typeof AuthFile>;

const RegistriesFile = z.object({
  "insecure-registries": z.array(z.string()).default([]),
}).loose();

/** The path of the credentials file under ctr's --root. */
export function authFilePath(root: string): string {
  return `${root}/auth.json`;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${path} is not JSON`);
  }
}

function readAuthFile(root: string): AuthFile {
  const path = authFilePath(root);
  const r = AuthFile.safeParse(readJson(path) ?? {});
  if (!r.success) throw new Error(`${path} is not a credentials file (expected {"auths": {...}})`);
  return r.data;
}

/** The key a registry's credentials are kept under: the host, or docker's key for Docker Hub. */
export function authKey(domain: string): string {
  return HUB_ALIASES.includes(domain) || domain === DEFAULT_DOMAIN ? DOCKER_HUB_AUTH_KEY : domain;
}

/** Strips a scheme and path from a registry given on the command line (`https://host/v2/`). */
export function registryHost(arg: string): string {
  if (HUB_ALIASES.includes(arg)) return DEFAULT_DOMAIN;
  const host = arg.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (host === "") throw new Error(`Invalid registry ${JSON.stringify(arg)}`);
  return HUB_ALIASES.includes(host) ? DEFAULT_DOMAIN : host;
}

function encodeAuth(c: Credentials): string {
  const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
  return btoa(String.fromCharCode(...bytes));
}

function decodeAuth(auth: string, where: string): Credentials {
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.from(atob(auth), (c) => c.charCodeAt(0)));
  } catch {
    throw new Error(`The credentials for ${where} are not base64`);
  }
  const colon = text.indexOf(":");
  if (colon < 0) throw new Error(`The credentials for ${where} are not USER:PASSWORD`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The stored credentials for a registry (reference domain), if any. */
export function credentialsFor(root: string, domain: string): Credentials | undefined {
  const auths = readAuthFile(root).auths;
  const keys = authKey(domain) === DOCKER_HUB_AUTH_KEY ? HUB_ALIASES : [domain];
  for (const k of keys) {
    const auth = auths[k]?.auth;
    if (auth) return decodeAuth(auth, k);
  }
  return undefined;
}

function writeAuthFile(root: string, file: AuthFile): void {
  Deno.mkdirSync(root, { recursive: true, mode: 0o711 });
  const path = authFilePath(root);
  writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(file, null, "\t") + "\n"), 0o600);
  Deno.chmodSync(path, 0o600); // the umask may have narrowed it; never wider
}

/** Stores credentials for a registry (mode 0600, replaced atomically). */
export function saveCredentials(root: string, domain: string, c: Credentials): void {
  const file = readAuthFile(root);
  const key = authKey(domain);
  file.auths[key] = { ...file.auths[key], auth: encodeAuth(c) };
  writeAuthFile(root, file);
}

/** Forgets a registry's credentials; false when there were none. */
export function removeCredentials(root: string, domain: string): boolean {
  const file = readAuthFile(root);
  const keys = authKey(domain) === DOCKER_HUB_AUTH_KEY ? HUB_ALIASES : [domain];
  const found = keys.filter((k) => file.auths[k] !== undefined);
  if (found.length === 0) return false;
  for (const k of found) delete file.auths[k];
  writeAuthFile(root, file);
  return true;
}

/** The registries listed as insecure in ROOT/registries.json. */
export function insecureRegistries(root: string): string[] {
  const path = `${root}/registries.json`;
  const r = RegistriesFile.safeParse(readJson(path) ?? {});
  if (!r.success) {
    throw new Error(`${path}: "insecure-registries" must be a list of registry hosts`);
  }
  return r.data["insecure-registries"].map(registryHost);
}
