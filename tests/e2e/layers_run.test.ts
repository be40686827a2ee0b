/**
 * A root filesystem of many layers (root): more than mount(2)'s one page of
 * options holds, so the overlay is mounted from short links to the layers
 * (any kernel; the new mount API's `lowerdir+` needs Linux 6.8).
 */
import assert from "node:assert/strict";
import { rootTest, tempDir, testRootfs } from "../_helpers.ts";
import { parseRunArgs, readRunHost } from "../../lib/cli/run.ts";
import { runConfig } from "../../lib/config/docker_run.ts";
import { runContainer } from "../../lib/engine/container.ts";

rootTest("layers: 120 layers mount, and the top one wins", async () => {
  const base = tempDir();
  Deno.chmodSync(base, 0o755);
  const layers: string[] = [];
  for (let i = 0; i < 120; i++) {
    // Long names, as the store's are (layers/sha256/<64 hex>).
    const d = `${base}/${String(i).padStart(3, "0")}-${"ab".repeat(30)}`;
    Deno.mkdirSync(`${d}/layers`, { recursive: true });
    Deno.writeTextFileSync(`${d}/layers/${i}`, `${i}\n`);
    Deno.writeTextFileSync(`${d}/layers/top`, `${i}\n`);
    layers.push(d);
  }
  layers.reverse(); // top first: 119 .. 0
  const store = tempDir();
  Deno.chmodSync(store, 0o711);
  const out = `${tempDir()}/out`;
  const req = runConfig(
    parseRunArgs([
      "--rm",
      "-v",
      `${out.slice(0, out.lastIndexOf("/"))}:/out`,
      "--rootfs",
      testRootfs(),
      "sh",
      "-c",
      "ls /layers | wc -l > /out/out; cat /layers/top >> /out/out",
    ]),
    readRunHost(store),
  );
  const cfg = { ...req.config, layers: [...layers, ...req.config.layers] };
  const code = await runContainer(cfg, { remove: true, stateDir: tempDir() });
  assert.equal(code, 0);
  assert.equal(Deno.readTextFileSync(out), "121\n119\n");
});
