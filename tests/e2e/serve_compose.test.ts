/**
 * Debian's docker-compose (1.29) against `ctr serve` (root): a project of
 * two services, a busybox httpd serving a page from a named volume and a
 * client that fetches it by the service's name, brought up detached, listed,
 * its logs read, and brought down with its volumes: no container, network,
 * volume, bridge, veth, lease, rule, mount or cgroup of it is left, and a
 * container outside the project stays.
 */
import assert from "node:assert/strict";
import { busyboxImageTar, census, IS_ROOT, tempDir } from "../_helpers.ts";
import { CLIENT, dockerOk, type Server, startServer } from "../_serve.ts";

const COMPOSE = "/usr/bin/docker-compose";
const PROJECT = "ctrcompose";
const dec = new TextDecoder();

function installed(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const COMPOSE_FILE = `version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo hello from web > /www/index.html && exec httpd -f -p 80 -h /www"]
    volumes:
      - www:/www
  client:
    image: busybox
    command: ["sh", "-c", "for i in $$(seq 50); do wget -qO- http://web/ && exit 0; sleep 0.2; done; exit 1"]
    depends_on: [web]
volumes:
  www: {}
`;

/** web is on two networks; client (front) and probe (back) each reach it by name, not each other. */
const TWO_NETWORKS = `version: "3.7"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir /www && echo two > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks: [front, back]
  client:
    image: busybox
    command: ["sh", "-c", "for i in $$(seq 50); do wget -qO- http://web/ && exit 0; sleep 0.2; done; exit 1"]
    networks: [front]
    depends_on: [web]
  probe:
    image: busybox
    command: ["sh", "-c", "for i in $$(seq 50); do wget -qO- http://web/ && exec sleep 1000; sleep 0.2; done; exit 1"]
    networks: [back]
    depends_on: [web]
networks:
  front: {}
  back: {}
`;

/** Runs docker-compose in the project's directory against the server. */
async function compose(s: Server, dir: string, args: string[]) {
  const out = await new Deno.Command(COMPOSE, {
    args: ["-p", PROJECT, ...args],
    cwd: dir,
    env: { DOCKER_HOST: `unix://${s.sock}`, COMPOSE_INTERACTIVE_NO_CLI: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A docker command that must succeed; its stdout, trimmed. */
const ok = async (s: Server, args: string[]) => (await dockerOk(s, args)).trim();

/** A container's status and exit code once it has exited (at most 15 s). */
async function ended(s: Server, name: string): Promise<string> {
  let end = "";
  for (let i = 0; i < 150 && !end.startsWith("exited"); i++) {
    end = await ok(s, ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name]);
    if (!end.startsWith("exited")) await new Promise((r) => setTimeout(r, 100));
  }
  return end;
}

/** Whether the server's container list filters by label (docker-compose finds its containers so). */
async function filtersByLabel(s: Server): Promise<boolean> {
  const other = await ok(s, ["ps", "-aq", "-f", "label=com.docker.compose.project=none-such"]);
  return other === "";
}

if (!installed(COMPOSE) || !installed(CLIENT)) {
  Deno.test({
    name: "ctr serve: docker-compose [skipped: docker-compose or docker.io is not installed]",
    ignore: true,
    fn() {},
  });
} else {
  const name =
    "ctr serve: docker-compose brings a two-service project up and down, and one on two networks";
  Deno.test({
    name: IS_ROOT ? name : `${name} [skipped: needs root]`,
    ignore: !IS_ROOT,
    sanitizeResources: false,
    sanitizeOps: false,
  }, async (t) => {
    const s = await startServer();
    const before = census(s.store);
    const ids = new Set<string>();
    const dir = tempDir();
    Deno.writeTextFileSync(`${dir}/docker-compose.yml`, COMPOSE_FILE);
    try {
      await ok(s, ["load", "-i", await busyboxImageTar()]);
      // A container outside the project: docker-compose must neither list nor remove it.
      const other = await ok(s, [
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "none",
        "busybox",
        "sleep",
        "1000",
      ]);
      ids.add(other);
      // docker-compose finds its containers by label: where the list does not filter, it
      // would count, list and remove every container of the server as its own.
      assert.ok(await filtersByLabel(s), "GET /containers/json filters by label");
      await t.step({
        name: "docker-compose up -d, ps, logs, down -v",
        fn: async () => {
          const up = await compose(s, dir, ["up", "-d"]);
          assert.equal(up.code, 0, up.stderr);
          assert.match(up.stderr, new RegExp(`Creating network "${PROJECT}_default"`));
          assert.match(up.stderr, new RegExp(`Creating volume "${PROJECT}_www"`));
          for (const name of ["web", "client"]) {
            ids.add(await ok(s, ["inspect", "-f", "{{.Id}}", `${PROJECT}_${name}_1`]));
          }

          // The client fetched the page by the service's name, and ended.
          assert.equal(await ended(s, `${PROJECT}_client_1`), "exited 0");
          const logs = await compose(s, dir, ["logs", "--no-color", "client"]);
          assert.equal(logs.code, 0, logs.stderr);
          assert.match(logs.stdout, /client_1 +\| hello from web/);

          const ps = await compose(s, dir, ["ps"]);
          assert.equal(ps.code, 0, ps.stderr);
          assert.match(ps.stdout, new RegExp(`${PROJECT}_web_1 .* Up`));
          assert.match(ps.stdout, new RegExp(`${PROJECT}_client_1 .* Exit 0`));
          assert.equal(
            await ok(s, [
              "network",
              "ls",
              "-f",
              `label=com.docker.compose.project=${PROJECT}`,
              "--format",
              "{{.Name}}",
            ]),
            `${PROJECT}_default`,
          );
          const netId = await ok(s, ["network", "inspect", "-f", "{{.Id}}", `${PROJECT}_default`]);
          const bridge = `/sys/class/net/ctr-${netId.slice(0, 11)}`;
          assert.ok(Deno.statSync(bridge).isDirectory);
          assert.equal(
            await ok(s, [
              "volume",
              "inspect",
              "-f",
              '{{index .Labels "com.docker.compose.volume"}}',
              `${PROJECT}_www`,
            ]),
            "www",
          );

          const down = await compose(s, dir, ["down", "-v"]);
          assert.equal(down.code, 0, down.stderr);
          assert.match(down.stderr, new RegExp(`Removing network ${PROJECT}_default`));
          assert.match(down.stderr, new RegExp(`Removing volume ${PROJECT}_www`));
          assert.equal(await ok(s, ["network", "ls", "-q", "-f", "type=custom"]), "");
          assert.equal(await ok(s, ["volume", "ls", "-q"]), "");
          assert.throws(() => Deno.statSync(bridge), "the project's bridge goes with its network");
          assert.equal(
            ps.stdout.split("\n").filter((l) => l.startsWith(`${PROJECT}_`)).length,
            2,
            ps.stdout,
          );
          assert.equal(await ok(s, ["ps", "-a", "--format", "{{.Names}}"]), "other");
        },
      });
      await t.step({
        name: "a service on two networks: connected before its start, reached on both",
        fn: async () => {
          const two = tempDir();
          Deno.writeTextFileSync(`${two}/docker-compose.yml`, TWO_NETWORKS);
          const up = await compose(s, two, ["up", "-d"]);
          assert.equal(up.code, 0, up.stderr);
          const web = `${PROJECT}_web_1`;
          for (const name of ["web", "client", "probe"]) {
            ids.add(await ok(s, ["inspect", "-f", "{{.Id}}", `${PROJECT}_${name}_1`]));
          }
          assert.equal(await ended(s, `${PROJECT}_client_1`), "exited 0");
          const logs = await compose(s, two, ["logs", "--no-color", "client", "probe"]);
          assert.match(logs.stdout, /client_1 +\| two/);
          assert.match(logs.stdout, /probe_1 +\| two/);
          // web has an address on each network, eth0 and eth1; the probe sees only back's peers.
          const nets = JSON.parse(
            await ok(s, ["inspect", "-f", "{{json .NetworkSettings.Networks}}", web]),
          );
          assert.deepEqual(Object.keys(nets).sort(), [`${PROJECT}_back`, `${PROJECT}_front`]);
          const addrs = await ok(s, ["exec", web, "ip", "-o", "-4", "addr"]);
          for (const n of Object.values(nets) as { IPAddress: string }[]) {
            assert.match(addrs, new RegExp(`eth[01] +inet ${n.IPAddress.replaceAll(".", "\\.")}/`));
          }
          const probeHosts = await ok(s, ["exec", `${PROJECT}_probe_1`, "cat", "/etc/hosts"]);
          assert.match(probeHosts, /\bweb\b/);
          assert.doesNotMatch(probeHosts, /\bclient\b/);
          const down = await compose(s, two, ["down"]);
          assert.equal(down.code, 0, down.stderr);
          assert.equal(await ok(s, ["network", "ls", "-q", "-f", "type=custom"]), "");
        },
      });
      await ok(s, ["rm", "-f", "other"]);
    } finally {
      await compose(s, dir, ["down", "-v"]).catch(() => {});
      const left = (await s.docker(["ps", "-aq", "--no-trunc"])).stdout.split("\n").filter(Boolean);
      for (const id of left) ids.add(id);
      if (left.length) await s.docker(["rm", "-f", ...left]);
      assert.equal(await s.stop(), 0);
    }
    const after = census(s.store, { stateDir: s.state, ids, markers: [s.store] });
    assert.deepEqual(
      { mounts: after.mounts, cgroups: after.cgroups, containers: after.containers },
      { mounts: before.mounts, cgroups: before.cgroups, containers: before.containers },
    );
    assert.deepEqual(
      [after.veths, after.leases, after.rules, after.cgroupDirs, after.processes],
      [0, 0, 0, 0, 0],
      "veths, leases, rules, cgroups, processes of the project's containers",
    );
  });
}
