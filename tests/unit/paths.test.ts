/** Paths inside a root filesystem, without root. */
import assert from "node:assert/strict";
import { resolveInRoot } from "../../lib/runtime/paths.ts";

Deno.test("resolveInRoot() follows symlinks without leaving the root", () => {
  const r = Deno.makeTempDirSync();
  Deno.mkdirSync(`${r}/real/dir`, { recursive: true });
  Deno.symlinkSync("/etc", `${r}/abs`);
  Deno.symlinkSync("../../../../..", `${r}/up`);
  Deno.symlinkSync("real/dir", `${r}/rel`);
  Deno.symlinkSync("loop", `${r}/loop`);
  assert.equal(resolveInRoot([r], "/abs/passwd"), "/etc/passwd");
  assert.equal(resolveInRoot([r], "/up/etc/shadow"), "/etc/shadow");
  assert.equal(resolveInRoot([r], "/rel/x"), "/real/dir/x");
  assert.equal(resolveInRoot([r], "/../../proc"), "/proc");
  assert.throws(() => resolveInRoot([r], "/loop/x"), /Too many symlinks/);
  Deno.removeSync(r, { recursive: true });
});
