/**
 * Spec files without running anything: parsing into a Spec, the start order,
 * the `ctr run` arguments of each container, and every kind of problem with
 * the line and column it is reported at.
 */
import assert from "node:assert/strict";
import { parseArgs } from "../../lib/cli/args.ts";
import { RUN_OPTIONS } from "../../lib/cli/run.ts";
import { runOptionsArgv } from "../../lib/config/run_options.ts";
import {
  networkName,
  parseSpec,
  readSpecFile,
  runOptionsFor,
  type Spec,
  SpecError,
  splitCommand,
  startLevels,
} from "../../lib/config/compose.ts";

/** The problems of a file as `LINE:COL: PATH: MESSAGE` lines; fails when it parses. */
function problems(text: string): string[] {
  try {
    parseSpec(text, "shop.yaml");
  } catch (e) {
    if (!(e instanceof SpecError)) throw e;
    return e.problems.map((p) => `${p.line}:${p.column}: ${p.path}: ${p.message}`);
  }
  assert.fail("the spec parsed");
}

/** The one problem of a file. */
function problem(text: string): string {
  const all = problems(text);
  assert.equal(all.length, 1, all.join("\n"));
  return all[0];
}

/** A file with one container `db` that has `lines` besides its image. */
function withDb(...lines: string[]): string {
  return ["containers:", "  db:", "    image: busybox", ...lines.map((l) => `    ${l}`), ""]
    .join("\n");
}

const SHOP = `name: shop
networks:
  backend:
    subnet: 10.201.0.0/24
containers:
  web:
    image: busybox
    command: httpd -f -p 80 -h "/srv/my www"
    ports: ["8080:80", "127.0.0.1:8081:81/udp", 90]
    networks: [backend]
    depends_on: [db]
    environment:
      DB_HOST: db
      RATIO: 1.50
    restart: unless-stopped
    mem_limit: 64m
    cpus: 0.5
  db:
    image: busybox
    entrypoint: [/bin/sh, -c]
    command: ["exec nc -lk -p 5432"]
    network: backend
    environment: ["MODE=primary", "TOKEN"]
    volumes: ["pgdata:/data", "/etc/hosts:/etc/hosts:ro"]
    user: 1000
    working_dir: /data
    read_only: true
    tmpfs: /run
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    pids_limit: 100
    labels: {tier: data}
`;

Deno.test("a two-container file becomes a Spec", () => {
  const spec = parseSpec(SHOP, "shop.yaml");
  assert.deepEqual(spec, {
    name: "shop",
    networks: [{ name: "backend", subnet: "10.201.0.0/24" }],
    containers: [
      {
        name: "web",
        image: "busybox",
        command: ["httpd", "-f", "-p", "80", "-h", "/srv/my www"],
        environment: { DB_HOST: "db", RATIO: "1.50" },
        ports: ["8080:80", "127.0.0.1:8081:81/udp", "90"],
        volumes: [],
        networks: ["backend"],
        hostname: "web",
        readOnly: false,
        tmpfs: [],
        capAdd: [],
        capDrop: [],
        restart: "unless-stopped",
        memory: "64m",
        cpus: "0.5",
        dependsOn: ["db"],
        labels: {},
      },
      {
        name: "db",
        image: "busybox",
        command: ["exec nc -lk -p 5432"],
        entrypoint: ["/bin/sh", "-c"],
        environment: { MODE: "primary", TOKEN: null },
        ports: [],
        volumes: ["pgdata:/data", "/etc/hosts:/etc/hosts:ro"],
        networks: ["backend"],
        hostname: "db",
        user: "1000",
        workingDir: "/data",
        readOnly: true,
        tmpfs: ["/run"],
        capAdd: ["NET_ADMIN"],
        capDrop: ["ALL"],
        pidsLimit: 100,
        dependsOn: [],
        labels: { tier: "data" },
      },
    ],
  });
});

Deno.test("dependencies start first", () => {
  assert.deepEqual(startLevels(parseSpec(SHOP, "shop.yaml")), [["db"], ["web"]]);
});

Deno.test("runOptionsFor: every setting as a ctr run option", () => {
  const spec = parseSpec(SHOP, "shop.yaml");
  assert.deepEqual(runOptionsFor(spec, "web"), {
    flags: {
      detach: true,
      name: "shop-web",
      hostname: "web",
      env: ["DB_HOST=db", "RATIO=1.50"],
      publish: ["8080:80", "127.0.0.1:8081:81/udp", "90"],
      network: ["shop-backend"],
      "network-alias": ["web"],
      restart: "unless-stopped",
      memory: "64m",
      cpus: "0.5",
    },
    args: ["busybox", "httpd", "-f", "-p", "80", "-h", "/srv/my www"],
  });
  assert.deepEqual(runOptionsFor(spec, "db"), {
    flags: {
      detach: true,
      name: "shop-db",
      hostname: "db",
      env: ["MODE=primary", "TOKEN"],
      volume: ["pgdata:/data", "/etc/hosts:/etc/hosts:ro"],
      network: ["shop-backend"],
      "network-alias": ["db"],
      user: "1000",
      workdir: "/data",
      "read-only": true,
      tmpfs: ["/run"],
      "cap-add": ["NET_ADMIN"],
      "cap-drop": ["ALL"],
      "pids-limit": "100",
      label: ["tier=data"],
      // The entrypoint's first word is the option; the rest come before the command.
      entrypoint: "/bin/sh",
    },
    args: ["busybox", "-c", "exec nc -lk -p 5432"],
  });
  assert.throws(() => runOptionsFor(spec, "cache"), /no container "cache" in project shop/);
});

Deno.test("runOptionsFor: built-in networks, no network, an empty entrypoint", () => {
  const spec = parseSpec(
    `containers:
  a: {image: busybox, network: host}
  b: {image: busybox, networks: [bridge], hostname: box}
  c_1: {image: busybox, entrypoint: "", command: []}
`,
    "dir/x.yaml",
  );
  assert.equal(spec.name, "dir");
  // host and none have no aliases; a key that is no host name leaves the host name to ctr.
  assert.deepEqual(runOptionsFor(spec, "a"), {
    flags: { detach: true, name: "dir-a", hostname: "a", network: ["host"] },
    args: ["busybox"],
  });
  assert.deepEqual(runOptionsFor(spec, "b"), {
    flags: {
      detach: true,
      name: "dir-b",
      hostname: "box",
      network: ["bridge"],
      "network-alias": ["b"],
    },
    args: ["busybox"],
  });
  assert.deepEqual(runOptionsFor(spec, "c_1"), {
    flags: { detach: true, name: "dir-c_1", entrypoint: "" },
    args: ["busybox"],
  });
  // Across a process boundary the options are arguments that parse back to themselves.
  const back = parseArgs(runOptionsArgv(runOptionsFor(spec, "b")), RUN_OPTIONS, {
    stopAfterPositionals: 1,
  });
  assert.deepEqual({ flags: back.opts, args: back.positionals }, runOptionsFor(spec, "b"));
  assert.equal(networkName(spec, "bridge"), "bridge");
  assert.equal(networkName(spec, "backend"), "dir-backend");
});

Deno.test("startLevels groups containers by their depth in depends_on, each in file order", () => {
  const spec = parseSpec(
    `containers:
  e: {image: x, depends_on: [c]}
  "2": {image: x}
  c: {image: x, depends_on: [a, b]}
  a: {image: x}
  b: {image: x, depends_on: ["1"]}
  "1": {image: x}
`,
    "f.yaml",
  );
  // Keys that look like integers keep their place too.
  assert.deepEqual(spec.containers.map((c) => c.name), ["e", "2", "c", "a", "b", "1"]);
  assert.deepEqual(startLevels(spec), [["2", "a", "1"], ["b"], ["c"], ["e"]]);
  // Every container once, each after all it depends on.
  const flat = startLevels(spec).flat();
  assert.deepEqual([...flat].sort(), spec.containers.map((c) => c.name).sort());
  for (const c of spec.containers) {
    for (const d of c.dependsOn) assert.ok(flat.indexOf(d) < flat.indexOf(c.name));
  }
});

Deno.test("command strings are split like a shell", () => {
  assert.deepEqual(splitCommand(`sh -c 'echo "a  b"; exit 3'`), [
    "sh",
    "-c",
    `echo "a  b"; exit 3`,
  ]);
  assert.deepEqual(splitCommand(`a "b \\"c\\" \\d" e\\ f ''`), ["a", 'b "c" \\d', "e f", ""]);
  assert.deepEqual(splitCommand("  x\ty\n z  "), ["x", "y", "z"]);
  assert.deepEqual(splitCommand(""), []);
  assert.throws(() => splitCommand("echo 'x"), /unterminated ' quote/);
  assert.throws(() => splitCommand('echo "x'), /unterminated " quote/);
  assert.equal(
    problem(withDb(`command: "sh -c 'x"`)),
    `4:14: containers.db.command: unterminated ' quote in "sh -c 'x"`,
  );
});

Deno.test("environment: a mapping or a list; scalars keep how they were written", () => {
  const env = (lines: string) => parseSpec(withDb(lines), "f.yaml").containers[0].environment;
  assert.deepEqual(env("environment: {A: 1, B: 0x10, C: true, D: 1.0, E: '', F: null, G: x=y}"), {
    A: "1",
    B: "0x10",
    C: "true",
    D: "1.0",
    E: "",
    F: null,
    G: "x=y",
  });
  assert.deepEqual(env(`environment: ["A=1", "B=", "C", "A=2"]`), { A: "2", B: "", C: null });
  assert.deepEqual(env("environment: []"), {});
});

Deno.test("labels: a mapping or a list", () => {
  const labels = (l: string) => parseSpec(withDb(l), "f.yaml").containers[0].labels;
  assert.deepEqual(labels("labels: {a: 1, b: x}"), { a: "1", b: "x" });
  assert.deepEqual(labels(`labels: ["a=1", "b"]`), { a: "1", b: "" });
});

Deno.test("services: is another name for containers:", () => {
  const spec = parseSpec("services:\n  web:\n    image: busybox\n", "f.yaml");
  assert.deepEqual(spec.containers.map((c) => c.name), ["web"]);
  assert.deepEqual(problems("services:\n  web:\n    imge: busybox\n"), [
    "3:5: services.web: missing required key 'image'",
    "3:5: services.web.imge: unknown key 'imge' (did you mean 'image'?)",
  ]);
});

Deno.test("x- keys hold anchors and merge keys reuse them", () => {
  const spec = parseSpec(
    `x-base: &base
  image: busybox
  environment: {A: "1"}
containers:
  a:
    <<: *base
    x-note: ignored
    command: ["true"]
`,
    "f.yaml",
  );
  assert.equal(spec.containers[0].image, "busybox");
  assert.deepEqual(spec.containers[0].environment, { A: "1" });
});

Deno.test("relative volume sources start from the file's directory", () => {
  const spec = parseSpec(
    withDb(`volumes: ["./data:/data", "..:/up:ro", "data:/named"]`),
    "/srv/shop/f.yaml",
  );
  // A bare name is a volume; only paths are resolved.
  assert.deepEqual(spec.containers[0].volumes, [
    "/srv/shop/data:/data",
    "/srv:/up:ro",
    "data:/named",
  ]);
  const based = parseSpec(withDb(`volumes: [".:/x"]`), "f.yaml", { baseDir: "/base" });
  assert.deepEqual(based.containers[0].volumes, ["/base:/x"]);
});

Deno.test("errors: YAML syntax, with the parser's position", () => {
  assert.deepEqual(problems("containers:\n  db:\n    image: busybox\n   bad\n"), [
    "4:1: : All mapping items must start at the same column",
    "4:4: : Implicit map keys need to be followed by map values",
  ]);
  assert.equal(problem(withDb("image: alpine")), "4:5: : Map keys must be unique");
  assert.equal(
    problem("a: 1\n---\nb: 2\n"),
    "2:1: : Source contains multiple documents; " +
      "please use YAML.parseAllDocuments()",
  );
  assert.deepEqual(problems("containers: *nowhere\nx: &later 1\ny: *later\nz: *x\n"), [
    "1:13: : alias *nowhere has no anchor &nowhere before it",
    "4:4: : alias *x has no anchor &x before it",
  ]);
  assert.equal(problem(withDb("user: !custom x")), "4:11: : Unresolved tag: !custom");
});

Deno.test("errors: empty files and a top level that is no mapping", () => {
  assert.equal(problem(""), "1:1: : the file is empty");
  assert.equal(problem("# only a comment\n\n"), "1:1: : the file is empty");
  assert.equal(problem("---\n"), "1:1: : the file is empty");
  assert.equal(
    problem("\n- web\n"),
    "2:1: : the top level must be a mapping (name:, networks:, containers:), got a list",
  );
  assert.equal(problem("name: shop\n"), "1:1: : missing required key 'containers'");
  assert.equal(problem("containers:\n"), "1:1: containers: expected a mapping, got nothing");
  assert.equal(problem("containers: {}\n"), "1:13: containers: at least one container is needed");
});

Deno.test("errors: unknown and unsupported keys, at the key", () => {
  // A missing key is reported at the mapping that lacks it.
  assert.equal(
    problem("containers:\n  db:\n    command: [sh]\n"),
    "3:5: containers.db: missing required key 'image'",
  );
  assert.deepEqual(
    problems(withDb("enviroment: {}", "workdir: /x", "colour: red", "env_file: .env")),
    [
      "4:5: containers.db.enviroment: unknown key 'enviroment' (did you mean 'environment'?)",
      "5:5: containers.db.workdir: unknown key 'workdir' (did you mean 'working_dir'?)",
      "6:5: containers.db.colour: unknown key 'colour'",
      "7:5: containers.db.env_file: 'env_file' is not supported",
    ],
  );
  assert.deepEqual(problems("version: '3'\ncontainer: {}\n"), [
    "1:1: version: 'version' is not supported",
    "1:1: : missing required key 'containers'",
    "2:1: container: unknown key 'container' (did you mean 'containers'?)",
  ]);
  assert.equal(
    problem("networks:\n  n: {subnet: 10.0.0.0/24, driver: x}\ncontainers: {a: {image: x}}\n"),
    "2:28: networks.n.driver: unknown key 'driver'",
  );
});

Deno.test("errors: wrong types, at the value", () => {
  assert.equal(
    problem("containers:\n  db:\n    image: 3\n"),
    "3:12: containers.db.image: expected an image name, got a number (3)",
  );
  assert.equal(
    problem(withDb("read_only: yes")),
    `4:16: containers.db.read_only: expected true or false, got a string ("yes")`,
  );
  assert.equal(
    problem(withDb("ports: 8080")),
    "4:12: containers.db.ports: expected a list of port specs, got a number (8080)",
  );
  assert.equal(
    problem(withDb("command: [sh, [x]]")),
    "4:19: containers.db.command[1]: expected a string, got a list",
  );
  assert.equal(
    problem(withDb("command: {a: 1}")),
    "4:14: containers.db.command: expected a string or a list of strings, got a mapping",
  );
  assert.equal(
    problem(withDb("environment: {A: [1]}")),
    "4:22: containers.db.environment.A: expected a string, number or boolean, got a list",
  );
  assert.equal(
    problem("containers:\n  db:\n"),
    "2:3: containers.db: expected a mapping, got nothing",
  );
});

Deno.test("errors: values that ctr run would refuse", () => {
  const restart = "expected no, always, unless-stopped or on-failure[:N]";
  const size = "expected a number of bytes or a size like 512k, 64m or 1g";
  const name = "letters, digits, '_', '.' and '-', starting with a letter or digit";
  // [the line in container db, where, the path below containers.db, the message]
  const cases: [string, string, string, string][] = [
    [
      `ports: ["8080:99999"]`,
      "4:13",
      "ports[0]",
      `invalid port spec "8080:99999": container port "99999" is not a port (1-65535)`,
    ],
    [
      `ports: ["80/sctp"]`,
      "4:13",
      "ports[0]",
      `invalid port spec "80/sctp": protocol "sctp" is not tcp or udp`,
    ],
    [
      `ports: ["1:2:3:4"]`,
      "4:13",
      "ports[0]",
      `invalid port spec "1:2:3:4": expected [IP:][HOSTPORT:]CTRPORT[/tcp|udp]`,
    ],
    [
      `ports: ["300.0.0.1:80:80"]`,
      "4:13",
      "ports[0]",
      `invalid port spec "300.0.0.1:80:80": "300.0.0.1" is not an IPv4 address`,
    ],
    [
      `ports: [0]`,
      "4:13",
      "ports[0]",
      `invalid port spec "0": container port "0" is not a port (1-65535)`,
    ],
    ["restart: sometimes", "4:14", "restart", `invalid restart policy "sometimes": ${restart}`],
    ["restart: always:3", "4:14", "restart", `invalid restart policy "always:3": ${restart}`],
    ["mem_limit: 64x", "4:16", "mem_limit", `invalid size "64x": ${size}`],
    ["memory: 1.5", "4:13", "memory", `invalid size "1.5": ${size}`],
    ["cpus: 0", "4:11", "cpus", "cpus 0: expected a number of CPUs greater than 0, like 1.5"],
    [
      "pids_limit: lots",
      "4:17",
      "pids_limit",
      "pids_limit lots: expected a whole number (-1 or 0 for no limit)",
    ],
    [
      `volumes: ["d:/data"]`,
      "4:15",
      "volumes[0]",
      `invalid volume "d:/data": "d" is no volume name (letters, digits, '_', '.' and '-', ` +
      "at least 2) and no path (absolute, or starting with ./)",
    ],
    [
      `volumes: ["/a:b"]`,
      "4:15",
      "volumes[0]",
      `invalid volume "/a:b": the container path must be absolute`,
    ],
    [`volumes: ["/a:/b:rx"]`, "4:15", "volumes[0]", `invalid volume mode "rx": expected ro or rw`],
    [`volumes: ["/a:/"]`, "4:15", "volumes[0]", `invalid mount destination "/"`],
    ["tmpfs: [run]", "4:13", "tmpfs[0]", `invalid tmpfs "run": the path must be absolute`],
    ["working_dir: app", "4:18", "working_dir", `"app" is not an absolute path`],
    [
      "hostname: my_db",
      "4:15",
      "hostname",
      `invalid hostname "my_db": at most 64 letters, digits, dots and dashes`,
    ],
    ["cap_add: [FLY]", "4:15", "cap_add[0]", `unknown capability "FLY"`],
    [
      "environment: {'': x}",
      "4:19",
      `environment[""]`,
      `invalid environment variable "": no name`,
    ],
  ];
  for (const [line, at, path, message] of cases) {
    const sep = path.startsWith("[") ? "" : ".";
    assert.equal(problem(withDb(line)), `${at}: containers.db${sep}${path}: ${message}`, line);
  }
  assert.equal(
    problem("containers:\n  db:\n    image: Busybox\n"),
    `3:12: containers.db.image: invalid image "Busybox": ` +
      `the repository name "Busybox" must be lowercase`,
  );
  assert.equal(
    problem("name: Shop\ncontainers: {a: {image: x}}\n"),
    `1:7: name: invalid project name "Shop": ` +
      "lowercase letters, digits, '_' and '-', starting with a letter or digit",
  );
  assert.equal(
    problem("containers:\n  -db: {image: x}\n"),
    `2:3: containers.-db: invalid container name "-db": ${name}`,
  );
});

Deno.test("errors: networks", () => {
  assert.equal(
    problem(withDb("networks: [front]")),
    `4:16: containers.db.networks[0]: network "front" is not declared under networks: ` +
      "(known: bridge, host, none)",
  );
  assert.deepEqual(
    problems(`networks:
  a:
  b: {subnet: 10.0.0.1/24}
  host:
containers:
  db:
    image: x
    networks: [a, none]
    network: a
    ports: ["80:80"]
  web:
    image: x
    network: none
    ports: ["81:81"]
`),
    [
      "3:15: networks.b.subnet: invalid subnet 10.0.0.1/24: " +
      "host bits are set (did you mean 10.0.0.0/24?)",
      `4:3: networks.host: network "host" is built in: use it without declaring it`,
      "8:19: containers.db.networks[1]: network none cannot be joined with other networks",
      "9:5: containers.db.network: 'network' and 'networks' are the same setting: use one",
      "14:12: containers.web.ports: " +
      "ports cannot be published with network none: it needs a container network",
    ],
  );
});

Deno.test("errors: depends_on names and cycles", () => {
  assert.equal(
    problem(withDb("depends_on: [cache]")),
    `4:18: containers.db.depends_on[0]: unknown container "cache" (containers in this file: db)`,
  );
  assert.deepEqual(
    problems(`containers:
  a: {image: x, depends_on: [b]}
  b: {image: x, depends_on: [c]}
  c: {image: x, depends_on: [a]}
  d: {image: x, depends_on: [d]}
`),
    [
      "4:30: containers.c.depends_on[0]: dependency cycle: a -> b -> c -> a",
      "5:30: containers.d.depends_on[0]: dependency cycle: d -> d",
    ],
  );
});

Deno.test("errors: containers: and services: together, ports published twice", () => {
  assert.equal(
    problem("containers:\n  a: {image: x}\nservices:\n  b: {image: y}\n"),
    "3:1: services: 'services' is another name for 'containers': use only one",
  );
  assert.equal(
    problem(`containers:
  a: {image: x, ports: ["8080:80"]}
  b: {image: x, ports: ["127.0.0.1:8080:81", "8080:80/udp"]}
`),
    "3:25: containers.b.ports[0]: " +
      "host port 8080/tcp is published twice (also by containers.a.ports[0])",
  );
});

Deno.test("several problems come together, sorted by position", () => {
  const text = `containers:
  web:
    image: busybox
    depends_on: [db, cache]
    ports: ["80:80", "99999"]
  db:
    imag: busybox
    restart: sometimes
    mem_limit: lots
`;
  let error: SpecError | undefined;
  try {
    parseSpec(text, "shop.yaml");
  } catch (e) {
    error = e as SpecError;
  }
  assert.ok(error instanceof SpecError);
  assert.equal(error.name, "SpecError");
  assert.equal(
    error.message,
    [
      `shop.yaml:4:22: containers.web.depends_on[1]: ` +
      `unknown container "cache" (containers in this file: web, db)`,
      `shop.yaml:5:22: containers.web.ports[1]: invalid port spec "99999": container port "99999" is not a port (1-65535)`,
      "shop.yaml:7:5: containers.db: missing required key 'image'",
      "shop.yaml:7:5: containers.db.imag: unknown key 'imag' (did you mean 'image'?)",
      `shop.yaml:8:14: containers.db.restart: invalid restart policy "sometimes": ` +
      `expected no, always, unless-stopped or on-failure[:N]`,
      `shop.yaml:9:16: containers.db.mem_limit: invalid size "lots": ` +
      "expected a number of bytes or a size like 512k, 64m or 1g",
    ].join("\n"),
  );
  assert.deepEqual(error.problems[1], {
    line: 5,
    column: 22,
    path: "containers.web.ports[1]",
    message: `invalid port spec "99999": container port "99999" is not a port (1-65535)`,
  });
});

Deno.test("readSpecFile: the directory names the project; unreadable files say so", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/My Shop.v2`;
    await Deno.mkdir(`${dir}/data`, { recursive: true });
    await Deno.writeTextFile(`${dir}/ctr.yaml`, withDb(`volumes: ["./data:/data"]`));
    const spec: Spec = readSpecFile(`${dir}/ctr.yaml`);
    assert.equal(spec.name, "myshopv2");
    assert.deepEqual(spec.containers[0].volumes, [`${dir}/data:/data`]);
    assert.equal(runOptionsFor(spec, "db").flags.name, "myshopv2-db");

    await Deno.mkdir(`${root}/---`);
    await Deno.writeTextFile(`${root}/---/f.yaml`, "name: explicit\n" + withDb());
    assert.equal(readSpecFile(`${root}/---/f.yaml`).name, "explicit");
    await Deno.writeTextFile(`${root}/---/g.yaml`, withDb());
    assert.equal(readSpecFile(`${root}/---/g.yaml`).name, "default");

    await Deno.writeTextFile(`${root}/bad.yaml`, withDb("ports: [0]"));
    assert.throws(
      () => readSpecFile(`${root}/bad.yaml`),
      (e: unknown) =>
        e instanceof SpecError &&
        e.message ===
          `${root}/bad.yaml:4:13: containers.db.ports[0]: invalid port spec "0": container port "0" is not a port (1-65535)`,
    );
    assert.throws(
      () => readSpecFile(`${root}/missing.yaml`),
      (e: unknown) =>
        e instanceof SpecError && e.message === `${root}/missing.yaml: cannot read: no such file`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("networks: internal, driver_opts (docker's bridge keys, checked) and labels", () => {
  const spec = parseSpec(
    `networks:
  back:
    internal: true
    driver_opts: {com.docker.network.driver.mtu: 1400}
    labels: [tier=data]
containers: {a: {image: x, networks: [back]}}
`,
    "shop.yaml",
  );
  assert.deepEqual(spec.networks, [{
    name: "back",
    internal: true,
    options: { "com.docker.network.driver.mtu": "1400" },
    labels: { tier: "data" },
  }]);
  assert.match(
    problem(
      "networks:\n  n: {driver_opts: {com.docker.network.driver.mtu: '9'}}\ncontainers: {a: {image: x}}\n",
    ),
    /^2:\d+: networks\.n\.driver_opts: .*68-65535/,
  );
});
