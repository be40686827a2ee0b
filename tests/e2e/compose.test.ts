/**
 * `ctr up` / `ctr down` / `ctr run --spec` on real containers (root): two
 * containers on the file's own network reach each other by name, down
 * removes containers, network and leases; a malformed file reports
 * line:column and starts nothing; a missing image is pulled once for a
 * group of containers that start together.
 */
import assert from "node:assert/strict";
import { census, ctr, rootTest, tempDir, tempStore } from "../_helpers.ts";
import { startRegistry, which } from "../_registry.ts";

const repo = new URL("../..", import.meta.url).pathname;
const store = tempStore();
const state = tempDir();
const c = (args: string[]) => ctr(["--root", store, "--state-dir", state, ...args]);
let loaded = false;

async function loadImage() {
  if (loaded) return;
  const tar = `${tempDir()}/bb.tar`;
  const img = await new Deno.Command("bash", {
    args: [`${repo}scripts/busybox_image.sh`, tar],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(img.success, new TextDecoder().decode(img.stderr));
  assert.equal((await c(["load", "-i", tar])).code, 0);
  loaded = true;
}

function stateFiles(): string[] {
  return [...Deno.readDirSync(state)].filter((e) => e.isFile && /\.(json|exit)$/.test(e.name))
    .map((e) => e.name);
}

const SHOP = `# two containers on one network; web on a second one too
name: shop
networks:
  backend:
    subnet: 10.201.7.0/24
  front:
    subnet: 10.201.8.0/24
containers:
  db:
    image: busybox
    command: ["httpd", "-f", "-p", "80", "-h", "/www"]
    volumes: ["WWW:/www:ro"]
    networks: [backend]
  web:
    image: busybox
    command: sleep 1000
    environment:
      DB_HOST: db
    networks: [backend, front]
    depends_on: [db]
    restart: on-failure
`;

rootTest(
  "compose: up starts two containers that reach each other by name; down removes all",
  async () => {
    await loadImage();
    const before = census(store);
    const dir = tempDir();
    const www = tempDir();
    Deno.writeTextFileSync(`${www}/index.html`, "from db\n");
    const file = `${dir}/shop.yaml`;
    Deno.writeTextFileSync(file, SHOP.replace("WWW", www));
    try {
      const up = await c(["up", "-f", file]);
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stderr, /Network shop-backend\s+Created/);
      assert.match(up.stderr, /Container shop-db\s+Started[\s\S]*Container shop-web\s+Started/);
      const ps = await c(["ps", "--format", "json"]);
      // docker prints one JSON object per line.
      const names = ps.stdout.trim().split("\n").map((l) =>
        (JSON.parse(l) as { Names: string }).Names
      )
        .sort();
      assert.deepEqual(names, ["shop-db", "shop-web"]);
      // web finds db by its name in the file, on the file's network.
      const get = await c([
        "exec",
        "shop-web",
        "sh",
        "-c",
        'wget -q -O - "http://$DB_HOST/index.html"',
      ]);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(get.stdout, "from db\n");
      const ip = (await c(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "shop-db"])).stdout
        .trim();
      assert.match(ip, /^10\.201\.7\.\d+$/);
      // web is on both networks: eth0 on backend (the first), eth1 on front.
      const addrs = await c(["exec", "shop-web", "ip", "-o", "-4", "addr"]);
      assert.match(addrs.stdout, /eth0 +inet 10\.201\.7\.\d+\//);
      assert.match(addrs.stdout, /eth1 +inet 10\.201\.8\.\d+\//);
      // up again: nothing to do.
      const again = await c(["up", "-f", file]);
      assert.equal(again.code, 0);
      assert.match(again.stderr, /Container shop-db\s+Running/);
      const down = await c(["down", "-f", file, "-t", "1"]);
      assert.equal(down.code, 0, down.stderr);
      assert.match(down.stderr, /Container shop-web\s+Removed[\s\S]*Container shop-db\s+Removed/);
      assert.match(down.stderr, /Network shop-backend\s+Removed/);
      assert.match(down.stderr, /Network shop-front\s+Removed/);
      assert.equal((await c(["ps", "-a", "-q"])).stdout.trim(), "");
      assert.doesNotMatch((await c(["network", "ls"])).stdout, /shop-(backend|front)/);
      assert.deepEqual(census(store), before);
      assert.deepEqual(stateFiles(), []);
    } finally {
      await c(["down", "-f", file, "-t", "0"]);
    }
  },
);

rootTest("compose: a malformed file reports line:column and nothing starts", async () => {
  const dir = tempDir();
  const file = `${dir}/bad.yaml`;
  Deno.writeTextFileSync(
    file,
    `containers:
  a:
    image: busybox
    ports: ["99999:80"]
  b:
    imag: busybox
`,
  );
  const before = census(store);
  const r = await c(["up", "-f", file]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /bad\.yaml:4:13: containers\.a\.ports\[0\]: .*99999/);
  assert.match(r.stderr, /bad\.yaml:6:5: containers\.b\.imag: unknown key 'imag'/);
  assert.equal((await c(["ps", "-a", "-q"])).stdout.trim(), "");
  assert.deepEqual(census(store), before);
  Deno.writeTextFileSync(file, "containers: [oops\n");
  const syntax = await c(["up", "-f", file]);
  assert.equal(syntax.code, 125);
  assert.match(syntax.stderr, /bad\.yaml:\d+:\d+: /);
});

rootTest("compose: run --spec runs one container of a file in the foreground", async () => {
  await loadImage();
  const file = `${tempDir()}/one.yaml`;
  Deno.writeTextFileSync(
    file,
    `containers:
  hello:
    image: busybox
    command: ["sh", "-c", "echo $GREETING from $(hostname)"]
    environment: {GREETING: hi}
  other:
    image: busybox
`,
  );
  const r = await c(["run", "--rm", "--pull", "never", "--spec", file, "hello"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "hi from hello\n");
  // Command-line options win over the file's.
  const o = await c([
    "run",
    "--rm",
    "--pull",
    "never",
    "-e",
    "GREETING=yo",
    "--spec",
    file,
    "hello",
  ]);
  assert.equal(o.stdout, "yo from hello\n");
  const which = await c(["run", "--rm", "--spec", file]);
  assert.equal(which.code, 125);
  assert.match(which.stderr, /describes 2 containers \(hello, other\): name one/);
  assert.deepEqual(stateFiles(), []);
});

const PULLS = "compose: up pulls a missing image once, then starts a group of containers at once";
if (!which("docker-registry")) {
  Deno.test({
    name: `${PULLS} [skipped: docker-registry is not installed]`,
    ignore: true,
    fn() {},
  });
} else {
  rootTest(
    PULLS,
    async () => {
      await loadImage();
      const reg = await startRegistry();
      // A store of its own, empty: up must pull.
      const own = ["--root", tempStore(), "--state-dir", tempDir()];
      const o = (args: string[]) => ctr([...own, ...args]);
      const file = `${tempDir()}/three.yaml`;
      try {
        const name = `${reg.domain}/compose/box:1`;
        assert.equal((await c(["tag", "busybox", name])).code, 0);
        const pushed = await c(["push", "-q", name]);
        assert.equal(pushed.code, 0, pushed.stderr);
        Deno.writeTextFileSync(
          file,
          `name: three
containers:
${
            ["a", "b", "c"].map((k) =>
              `  ${k}:\n    image: ${name}\n    command: ["sleep", "1000"]\n    network: none\n`
            ).join("")
          }`,
        );
        const up = await o(["up", "-f", file]);
        assert.equal(up.code, 0, up.stderr);
        assert.equal(up.stderr.match(/Image .* Pulled/g)?.length, 1, up.stderr);
        assert.equal(up.stderr.match(/Container three-[abc] +Started/g)?.length, 3, up.stderr);
        const ps = await o(["ps", "--format", "{{.Names}}"]);
        assert.deepEqual(ps.stdout.trim().split("\n").sort(), ["three-a", "three-b", "three-c"]);
        // Again: nothing to pull, everything running.
        const again = await o(["up", "-f", file]);
        assert.doesNotMatch(again.stderr, /Pulled/);
        assert.equal(again.stderr.match(/Running/g)?.length, 3, again.stderr);
        const down = await o(["down", "-t", "2", "-f", file]);
        assert.equal(down.code, 0, down.stderr);
        assert.equal(down.stderr.match(/Container three-[abc] +Removed/g)?.length, 3, down.stderr);
        assert.equal((await o(["ps", "-aq"])).stdout, "");
      } finally {
        await o(["down", "-t", "0", "-f", file]).catch(() => {});
        await reg.stop();
      }
    },
  );
}
