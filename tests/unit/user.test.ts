/** Users and groups of a root filesystem, without root. */
import assert from "node:assert/strict";
import { parsePasswd, resolveUser } from "../../lib/runtime/user.ts";

function fakeRoot(): string {
  const d = Deno.makeTempDirSync();
  Deno.mkdirSync(`${d}/etc`);
  Deno.mkdirSync(`${d}/bin`);
  Deno.writeTextFileSync(
    `${d}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
  );
  Deno.writeTextFileSync(`${d}/etc/group`, "root:x:0:\nstaff:x:50:app,other\napp:x:1000:\n");
  return d;
}

Deno.test("resolveUser() reads passwd and group in the root", () => {
  const r = fakeRoot();
  assert.deepEqual(resolveUser("app", [r]), {
    uid: 1000,
    gid: 1000,
    groups: [1000, 50],
    home: "/home/app",
  });
  assert.deepEqual(resolveUser("0", [r]), { uid: 0, gid: 0, groups: [0], home: "/root" });
  assert.deepEqual(resolveUser("4242:7", [r]), { uid: 4242, gid: 7, groups: [7], home: "/" });
  assert.throws(() => resolveUser("nobody", [r]), /Unable to find user nobody/);
  assert.throws(() => resolveUser("app:ghosts", [r]), /Unable to find group ghosts/);
  assert.equal(parsePasswd("bad line\n").length, 0);
  Deno.removeSync(r, { recursive: true });
});
