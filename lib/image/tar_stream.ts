/**
 * tar-stream, for the tar readers and writers: never imported statically,
 * only through {@linkcode loadTarStream} in layer.ts. It is a CommonJS
 * package, and loading it starts Deno's Node compatibility layer (`require`
 * and Node's streams), about 40 ms that a command which only lists,
 * inspects or signals containers and images must not pay for importing a
 * module that can also read or write tars. (The bundle keeps a CommonJS
 * package's exports only when a local module like this one imports it.)
 * @module
 */

import tar from "tar-stream";

/** The tar-stream module's exports (`extract`, `pack`). */
export type TarStream = typeof tar;

export { tar };
