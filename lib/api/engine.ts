/**
 * The Docker Engine API's routes (v1.41, and unversioned paths), answered
 * with ctr's engine: the same functions the command line calls (create,
 * start, stop, rm, logs, inspect, images, load), so that one code path
 * serves both. Containers are started in this process (the watcher is
 * forked with each), so a start costs no Deno start.
 * @module
 */

import type { Globals } from "../engine/globals.ts";
import { type ContainerState, StateDir } from "../engine/state.ts";
import {
  isRunning,
  liveStatus,
  logEnded,
  readExit,
  reconcile,
  removeContainer,
  signalContainer,
  stopContainer,
} from "../engine/lifecycle.ts";
import { HttpError, type Request, type Response, writeAll } from "./http.ts";
import { VERSION } from "../version.ts";
import { sleep } from "../os/async.ts";
import { psStatus } from "../cli/containers.ts";
import { inspectObject } from "../cli/control.ts";
import { createFromArgs } from "../cli/run_command.ts";
import { createArgs } from "./create.ts";
import { signalByName } from "../../ffi/constants.ts";
import { connectWatcher, FrameReader, helloFrame, STREAM } from "../engine/attach.ts";

/** The API version ctr speaks (docker 20.10's). */
export const API_VERSION = "1.41";

type Handler = (req: Request, res: Response, params: string[]) => Promise<void>;

/** The Engine API of one ctr store and state directory. */
export class EngineApi {
  readonly #routes: [string, RegExp, Handler][] = [];
  readonly #dir: StateDir;
  /** Containers created with AutoRemove: the API removes them at their end, keeping the code. */
  readonly #autoRemove = new Set<string>();
  /** Exit codes of auto-removed containers, for a `wait` that comes late. */
  readonly #removedCodes = new Map<string, number>();
  /** Execs created and not yet inspected for the last time, by their id. */
  readonly #execs = new Map<string, ExecEntry>();
  /** Clients attached before the start: the watcher then waits for them. */
  readonly #attachPending = new Map<string, number>();

  constructor(readonly g: Globals) {
    this.#dir = new StateDir(g.stateDir);
    const r = (m: string, p: string, h: Handler) => this.#routes.push([m, new RegExp(`^${p}$`), h]);
    r("GET", "/_ping", (_q, res) => this.#ping(res));
    r("HEAD", "/_ping", (_q, res) => this.#ping(res));
    r("GET", "/version", (_q, res) => res.json(200, this.#version()));
    r("GET", "/info", async (_q, res) => {
      const { systemInfo } = await import("../engine/system.ts");
      await res.json(200, await systemInfo(this.g));
    });
    r("GET", "/images/json", (_q, res) => this.#images(res));
    r("POST", "/images/load", (q, res) => this.#load(q, res));
    r("GET", "/images/(.+)/json", (_q, res, [ref]) => this.#imageInspect(res, ref));
    r("GET", "/containers/json", (q, res) => this.#ps(q, res));
    r("POST", "/containers/create", (q, res) => this.#create(q, res));
    r("GET", "/containers/([^/]+)/json", (_q, res, [ref]) => res.json(200, this.#inspect(ref)));
    r("POST", "/containers/([^/]+)/start", (_q, res, [ref]) => this.#start(res, ref));
    r("POST", "/containers/([^/]+)/wait", (q, res, [ref]) => this.#wait(q, res, ref));
    r("POST", "/containers/([^/]+)/attach", (q, res, [ref]) => this.#attach(q, res, ref));
    r("POST", "/containers/([^/]+)/stop", (q, res, [ref]) => this.#stop(q, res, ref));
    r("POST", "/containers/([^/]+)/kill", (q, res, [ref]) => this.#kill(q, res, ref));
    r("GET", "/containers/([^/]+)/logs", (q, res, [ref]) => this.#logs(q, res, ref));
    r("DELETE", "/containers/([^/]+)", (q, res, [ref]) => this.#remove(q, res, ref));
    r("POST", "/containers/([^/]+)/exec", (q, res, [ref]) => this.#execCreate(q, res, ref));
    r("POST", "/exec/([^/]+)/start", (q, res, [id]) => this.#execStart(q, res, id));
    r("POST", "/exec/([^/]+)/resize", (q, res, [id]) => this.#execResize(q, res, id));
    r("GET", "/exec/([^/]+)/json", (_q, res, [id]) => res.json(200, this.#execInspect(id)));
  }

  /** Answers one request (the path may carry a /vX.YY prefix). */
  async handle(req: Request, res: Response): Promise<void> {
    const path = req.path.replace(/^\/v\d+\.\d+(?=\/)/, "");
    let methodMatched = false;
    for (const [m, re, h] of this.#routes) {
      const hit = re.exec(path);
      if (!hit) continue;
      if (m !== req.method) {
        methodMatched = true;
        continue;
      }
      const params = hit.slice(1).map((p) => decodeURIComponent(p));
      try {
        return await h(req, res, params);
      } catch (e) {
        throw toHttp(e);
      }
    }
    if (methodMatched) throw new HttpError(405, `method ${req.method} not allowed on ${path}`);
    throw new HttpError(404, `page not found: ${req.method} ${path}`);
  }

  async #ping(res: Response): Promise<void> {
    await res.send(200, "OK", {
      "Api-Version": API_VERSION,
      "Docker-Experimental": "false",
      OSType: "linux",
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-cache, no-store, must-revalidate",
    });
  }

  #version(): Record<string, unknown> {
    const v = {
      ApiVersion: API_VERSION,
      Arch: Deno.build.arch === "x86_64" ? "amd64" : "arm64",
      BuildTime: "",
      Experimental: "false",
      GitCommit: "",
      GoVersion: `deno ${Deno.version.deno}`,
      KernelVersion: Deno.osRelease(),
      MinAPIVersion: "1.12",
      Os: "linux",
    };
    return {
      Platform: { Name: `ctr ${VERSION}` },
      Components: [{ Name: "Engine", Version: VERSION, Details: v }],
      Version: VERSION,
      ...v,
      Experimental: false,
    };
  }

  async #images(res: Response): Promise<void> {
    const { listImages, openStore } = await import("../image/mod.ts");
    const list = listImages(openStore(this.g.root));
    await res.json(
      200,
      list.map((img) => ({
        Id: img.id,
        ParentId: "",
        RepoTags: img.tags.length ? img.tags : ["<none>:<none>"],
        RepoDigests: [],
        Created: img.created ? Math.floor(Date.parse(img.created) / 1000) : 0,
        Size: img.size,
        VirtualSize: img.size,
        SharedSize: -1,
        Labels: null,
        Containers: -1,
      })),
    );
  }

  async #imageInspect(res: Response, ref: string): Promise<void> {
    const { inspectImage, openStore } = await import("../image/mod.ts");
    await res.json(200, inspectImage(openStore(this.g.root), ref));
  }

  /** `docker load`: the archive in the body; docker's JSON lines back. */
  async #load(req: Request, res: Response): Promise<void> {
    const { loadArchive, openStore } = await import("../image/mod.ts");
    const { imageEvent } = await import("../engine/events.ts");
    const tmp = await Deno.makeTempFile({ prefix: "ctr-api-load-", suffix: ".tar" });
    try {
      await Deno.writeFile(tmp, req.body, { mode: 0o600 });
      const r = await loadArchive(openStore(this.g.root), tmp, {});
      const lines = r.images.flatMap((img) =>
        img.names.length
          ? img.names.map((n) => ({ stream: `Loaded image: ${n}\n` }))
          : [{ stream: `Loaded image ID: ${img.id}\n` }]
      );
      for (const img of r.images) imageEvent(this.g.stateDir, img.id, "load", { name: img.id });
      await res.send(200, lines.map((l) => JSON.stringify(l)).join("\n") + "\n", {
        "Content-Type": "application/json",
      });
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }

  async #ps(req: Request, res: Response): Promise<void> {
    const all = boolParam(req, "all");
    const list = (await reconcile(this.#dir))
      .filter((s) => all || liveStatus(s) === "running" || liveStatus(s) === "paused")
      .sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
    await res.json(200, list.map((s) => this.#summary(s)));
  }

  /** A container as `GET /containers/json` lists it. */
  #summary(s: ContainerState): Record<string, unknown> {
    const st = liveStatus(s);
    return {
      Id: s.id,
      Names: [`/${s.name}`],
      Image: s.image ?? "",
      ImageID: "",
      Command: (s.command ?? []).join(" "),
      Created: Math.floor(Date.parse(s.created) / 1000),
      Ports: (s.ports ?? []).map((p) => ({
        IP: p.hostIp || "0.0.0.0",
        PrivatePort: p.containerPort,
        PublicPort: p.hostPort,
        Type: p.protocol,
      })),
      Labels: s.labels ?? {},
      State: st,
      Status: psStatus({ ...s, status: st }),
      HostConfig: { NetworkMode: s.network ?? "none" },
      NetworkSettings: { Networks: {} },
      Mounts: [],
    };
  }

  #inspect(ref: string): Record<string, unknown> {
    return inspectObject(this.#dir.find(ref));
  }

  /** `POST /containers/create?name=`: Config and HostConfig as docker's run flags. */
  async #create(req: Request, res: Response): Promise<void> {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(new TextDecoder().decode(req.body) || "{}");
    } catch (e) {
      throw new HttpError(400, `invalid JSON: ${(e as Error).message}`);
    }
    const { argv, autoRemove } = createArgs(body, req.query.get("name") ?? undefined);
    const made = await createFromArgs(argv, this.g, { pull: "never" });
    if (autoRemove) this.#autoRemove.add(made.id);
    await res.json(201, { Id: made.id, Warnings: made.warnings });
  }

  async #start(res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (isRunning(s)) return await res.send(304);
    if (!s.config) throw new HttpError(500, `container ${s.name} has no recorded configuration`);
    const { startDetached } = await import("../engine/detach.ts");
    await this.#dir.update(s.id, (cur) => ({ ...cur, stoppedByUser: false }));
    await startDetached(s.config, this.g, {
      existing: true,
      report: false,
      record: { stoppedByUser: false, restartCount: 0 },
      log: s.logOptions,
      attach: (this.#attachPending.get(s.id) ?? 0) > 0,
    });
    if (this.#autoRemove.has(s.id)) this.#reapLater(s.id);
    await res.send(204);
  }

  /** An AutoRemove container: its exit code is kept, then it is removed as `rm -f` would. */
  #reapLater(id: string): void {
    (async () => {
      for (;;) {
        await sleep(50);
        const s = this.#dir.get(id);
        if (!s) return;
        if (liveStatus(s) !== "exited" || s.status !== "exited") continue;
        this.#removedCodes.set(id, s.exitCode ?? readExit(this.#dir, id)?.exitCode ?? 255);
        this.#autoRemove.delete(id);
        await removeContainer(this.#dir, s, true).catch(() => {});
        return;
      }
    })();
  }

  /**
   * `wait`: its answer's head at once, the body (the exit code) when the
   * condition is met: `not-running` (now, if it is not), `next-exit` (the
   * end of a run that started after the call, or of the one running then),
   * `removed` (the record is gone: AutoRemove, or a later rm).
   */
  async #wait(req: Request, res: Response, ref: string): Promise<void> {
    const s0 = this.#dir.find(ref);
    const condition = req.query.get("condition") ?? "not-running";
    if (!["not-running", "next-exit", "removed"].includes(condition)) {
      throw new HttpError(400, `invalid condition: ${JSON.stringify(condition)}`);
    }
    const runningAtCall = isRunning(s0);
    const out = await res.stream(200, { "Content-Type": "application/json" });
    let code = s0.exitCode ?? 0;
    for (;;) {
      const s = this.#dir.get(s0.id);
      if (!s) {
        code = this.#removedCodes.get(s0.id) ?? code;
        break;
      }
      const ended = s.status === "exited" && liveStatus(s) === "exited";
      if (ended) code = s.exitCode ?? 0;
      if (condition === "not-running" && (ended || s.status === "created")) break;
      if (
        condition === "next-exit" && ended && (runningAtCall || s.startedAt !== s0.startedAt)
      ) break;
      await sleep(50);
    }
    await out.write(
      new TextEncoder().encode(JSON.stringify({ StatusCode: code, Error: null }) + "\n"),
    );
    await out.end();
  }

  /**
   * `attach` (hijacked): the watcher's stream frames (docker's own format) on
   * the raw connection; raw bytes for a pty. Before the start it waits for
   * the container to run, and the start tells the watcher to wait for it.
   */
  async #attach(req: Request, res: Response, ref: string): Promise<void> {
    const s0 = this.#dir.find(ref);
    const q = (k: string) => boolParam(req, k);
    const streams = { stdin: q("stdin"), stdout: q("stdout"), stderr: q("stderr") };
    const tty = s0.config?.process.terminal ?? false;
    const upgrade = /upgrade/i.test(req.headers.get("connection") ?? "");
    const before = await res.hijack(
      upgrade,
      tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
    );
    const pending = !isRunning(s0);
    if (pending) this.#attachPending.set(s0.id, (this.#attachPending.get(s0.id) ?? 0) + 1);
    let conn: Deno.UnixConn | undefined;
    try {
      // Until its watcher listens: once started, whether its command still runs or not (a
      // watcher told a client is coming holds the output, and the end, for it).
      for (let i = 0; !conn && i < 6000; i++) {
        const s = this.#dir.get(s0.id);
        if (!s) return;
        if (s.status !== "created") {
          try {
            conn = await connectWatcher(this.#dir.attachSocket(s0.id));
          } catch {
            if (s.status === "exited") return; // ended, and its watcher with it
          }
        }
        if (!conn) await sleep(10);
      }
    } finally {
      if (pending) this.#attachPending.set(s0.id, (this.#attachPending.get(s0.id) ?? 1) - 1);
    }
    if (!conn) return;
    const client = res.conn;
    try {
      await writeAll(conn, helloFrame(streams));
      const frames = new FrameReader();
      const toClient = (async () => {
        const buf = new Uint8Array(64 * 1024);
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          for (const f of frames.push(buf.subarray(0, n))) {
            if (f.stream === STREAM.exit) return;
            await writeAll(client, tty ? f.data : frame(f.stream, f.data));
          }
        }
      })();
      const fromClient = streams.stdin
        ? (async () => {
          const { clientFrame, CLIENT_FRAME } = await import("../engine/attach.ts");
          if (before.length) await writeAll(conn, clientFrame(CLIENT_FRAME.data, before));
          const buf = new Uint8Array(32 * 1024);
          for (;;) {
            const n = await client.read(buf).catch(() => null);
            if (n === null) {
              await writeAll(conn, clientFrame(CLIENT_FRAME.eof)).catch(() => {});
              return;
            }
            await writeAll(conn, clientFrame(CLIENT_FRAME.data, buf.slice(0, n)));
          }
        })()
        : Promise.resolve();
      await toClient;
      fromClient.catch(() => {});
      await endStream(client);
    } finally {
      try {
        conn.close();
      } catch { /* closed */ }
    }
  }

  async #execCreate(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (!isRunning(s)) throw new HttpError(409, `Container ${s.id} is not running`);
    const b = JSON.parse(new TextDecoder().decode(req.body) || "{}") as Record<string, unknown>;
    const args = Array.isArray(b.Cmd) ? b.Cmd.map(String) : [];
    if (!args.length) throw new HttpError(400, "No exec command specified");
    const id = [...crypto.getRandomValues(new Uint8Array(32))]
      .map((x) => x.toString(16).padStart(2, "0")).join("");
    this.#execs.set(id, {
      id,
      container: s.id,
      args,
      tty: b.Tty === true,
      user: typeof b.User === "string" && b.User !== "" ? b.User : undefined,
      env: Array.isArray(b.Env) ? b.Env.map(String) : [],
      workdir: typeof b.WorkingDir === "string" && b.WorkingDir !== "" ? b.WorkingDir : undefined,
      privileged: b.Privileged === true,
      stdin: b.AttachStdin === true,
      master: -1,
      running: false,
      exitCode: null,
      pid: 0,
    });
    await res.json(201, { Id: id });
  }

  async #execResize(req: Request, res: Response, id: string): Promise<void> {
    const e = this.#execs.get(id);
    if (!e) throw new HttpError(404, `No such exec instance: ${id}`);
    const rows = Number(req.query.get("h")), columns = Number(req.query.get("w"));
    if (e.master >= 0 && rows > 0 && columns > 0) {
      const { setWindowSize } = await import("../runtime/tty.ts");
      setWindowSize(e.master, { rows, columns });
    }
    await res.send(200);
  }

  #execInspect(id: string): Record<string, unknown> {
    const e = this.#execs.get(id);
    if (!e) throw new HttpError(404, `No such exec instance: ${id}`);
    return {
      ID: e.id,
      ContainerID: e.container,
      Running: e.running,
      ExitCode: e.exitCode,
      Pid: e.pid,
      ProcessConfig: { tty: e.tty, entrypoint: e.args[0], arguments: e.args.slice(1) },
      OpenStdin: false,
      OpenStdout: true,
      OpenStderr: true,
    };
  }

  /**
   * `exec start`: the process in the container, its output on the hijacked
   * connection (multiplexed frames, or the pty's bytes), until it ends.
   */
  async #execStart(req: Request, res: Response, id: string): Promise<void> {
    const e = this.#execs.get(id);
    if (!e) throw new HttpError(404, `No such exec instance: ${id}`);
    if (e.running || e.exitCode !== null) throw new HttpError(409, `exec ${id} has run already`);
    const b = JSON.parse(new TextDecoder().decode(req.body) || "{}") as Record<string, unknown>;
    const detach = b.Detach === true;
    const s = this.#dir.find(e.container);
    const { startExec } = await import("../cli/exec.ts");
    const { dupCloexec, pipe, close } = await import("../../ffi/sys.ts");
    let master = -1;
    const [outR, outW] = e.tty || detach ? [-1, -1] : pipe();
    const [errR, errW] = e.tty || detach ? [-1, -1] : pipe();
    const [inR, inW] = e.tty || detach || !e.stdin ? [-1, -1] : pipe();
    let started;
    try {
      started = await startExec(s, e.args, {
        user: e.user,
        env: e.env,
        workdir: e.workdir,
        privileged: e.privileged,
        tty: e.tty,
        interactive: false,
        detach,
        dieWithParent: false,
        ...(outW >= 0 &&
          { stdio: { stdout: outW, stderr: errW, ...(inR >= 0 && { stdin: inR }) } }),
        ...(e.tty &&
          { sendConsole: (m: number) => master = dupCloexec(m, "the exec's pty master") }),
      }, this.g);
    } finally {
      for (const fd of [outW, errW, inR]) if (fd >= 0) close(fd);
    }
    e.running = true;
    e.pid = started.run.pid;
    if (detach) {
      await res.send(200);
      e.running = false;
      return;
    }
    const upgrade = /upgrade/i.test(req.headers.get("connection") ?? "");
    await res.hijack(
      upgrade,
      e.tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream",
    );
    const client = res.conn;
    // stdout and stderr are read apart: their frames go out one whole frame at a time.
    let queue = Promise.resolve();
    const send = (b: Uint8Array) => queue = queue.then(() => writeAll(client, b));
    const relay = async (fd: number, stream: number, closeAfter = true) => {
      const { readAsync } = await import("../../ffi/sys.ts");
      const buf = new Uint8Array(32 * 1024);
      try {
        for (;;) {
          const n = await readAsync(fd, buf, "exec output").catch(() => 0);
          if (n <= 0) return;
          await send(stream === 0 ? buf.slice(0, n) : frame(stream, buf.subarray(0, n)));
        }
      } catch {
        /* the client went away */
      } finally {
        if (closeAfter) close(fd);
      }
    };
    e.master = master;
    if (inW >= 0) {
      // The client's input to the process's stdin pipe; its end (EOF) closes the pipe.
      (async () => {
        const { writeAllAsync: writeFd } = await import("../../ffi/sys.ts");
        const buf = new Uint8Array(32 * 1024);
        try {
          for (;;) {
            const n = await client.read(buf).catch(() => null);
            if (n === null) return;
            await writeFd(inW, buf.slice(0, n), "the exec's stdin");
          }
        } finally {
          close(inW);
        }
      })().catch(() => {});
    }
    if (e.tty && e.stdin) {
      // The client's keys to the pty (a write after the end fails, and ends this).
      (async () => {
        const { writeAllAsync: writeFd } = await import("../../ffi/sys.ts");
        const buf = new Uint8Array(32 * 1024);
        for (;;) {
          const n = await client.read(buf).catch(() => null);
          if (n === null || e.master < 0) return;
          await writeFd(e.master, buf.slice(0, n), "the exec's pty master");
        }
      })().catch(() => {});
    }
    const relays = e.tty ? [relay(master, 0, false)] : [relay(outR, 1), relay(errR, 2)];
    const code = await started.run.wait();
    await Promise.all(relays);
    await queue;
    e.master = -1;
    if (master >= 0) close(master);
    e.running = false;
    e.exitCode = code;
    started.ended(code);
    await endStream(client);
  }

  async #stop(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (!isRunning(s)) return await res.send(304);
    const t = Number(req.query.get("t") ?? s.config?.stopTimeout ?? 10);
    const sig = req.query.get("signal") ?? s.config?.stopSignal ?? "SIGTERM";
    await stopContainer(this.#dir, s, Number.isFinite(t) ? t : 10, signalByName(sig));
    await res.send(204);
  }

  async #kill(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    if (!isRunning(s)) throw new HttpError(409, `Container ${s.id} is not running`);
    signalContainer(s, signalByName(req.query.get("signal") ?? "SIGKILL"), this.#dir.dir);
    await res.send(204);
  }

  async #remove(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    const force = boolParam(req, "force");
    try {
      await removeContainer(this.#dir, s, force);
    } catch (e) {
      if (/cannot remove a running container/i.test((e as Error).message)) {
        throw new HttpError(409, (e as Error).message);
      }
      throw e;
    }
    await res.send(204);
  }

  /** `logs`: the log's records, multiplexed as docker does without a pty; `follow` streams. */
  async #logs(req: Request, res: Response, ref: string): Promise<void> {
    const s = this.#dir.find(ref);
    const q = (k: string) => boolParam(req, k);
    const want = { stdout: q("stdout"), stderr: q("stderr") };
    const tty = s.config?.process.terminal ?? false;
    const { emitLog } = await import("../engine/logs.ts");
    if (!s.logPath) {
      throw new HttpError(501, `container ${s.name} keeps no log (it ran in the foreground)`);
    }
    const tailArg = req.query.get("tail") ?? "all";
    const tail = tailArg === "all" ? undefined : Number(tailArg);
    const stamps = q("timestamps");
    const out = await res.stream(200, {
      "Content-Type": tty
        ? "application/vnd.docker.raw-stream"
        : "application/vnd.docker.multiplexed-stream",
    });
    const enc = new TextEncoder();
    const print = async (r: { stream: string; log: string; time: string }) => {
      if (r.stream === "stdout" ? !want.stdout : !want.stderr) return;
      const data = enc.encode((stamps ? `${r.time} ` : "") + r.log);
      await out.write(tty ? data : frame(r.stream === "stderr" ? 2 : 1, data));
    };
    await emitLog(s.logPath, {
      maxFiles: s.logOptions?.maxFiles ?? 1,
      tail,
      follow: q("follow"),
      ended: () => logEnded(this.#dir, s.id),
      emit: print,
    });
    await out.end();
  }
}

/**
 * Ends a hijacked stream as docker does: our side first (the client sees
 * EOF), then whatever the client still sends is read until it closes too,
 * so that closing never resets a connection with unread input.
 */
async function endStream(conn: Deno.Conn): Promise<void> {
  try {
    await conn.closeWrite();
  } catch { /* gone */ }
  const buf = new Uint8Array(4096);
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    const n = await Promise.race([
      conn.read(buf).catch(() => null),
      sleep(until - Date.now()).then(() => null),
    ]);
    if (n === null) return;
  }
}

/** An exec as `POST /containers/{id}/exec` made it. */
interface ExecEntry {
  readonly id: string;
  readonly container: string;
  readonly args: string[];
  readonly tty: boolean;
  readonly user?: string;
  readonly env: string[];
  readonly workdir?: string;
  readonly privileged: boolean;
  readonly stdin: boolean;
  /** The pty master while a tty exec runs (resize writes its size). */
  master: number;
  running: boolean;
  exitCode: number | null;
  pid: number;
}

/** docker's stream frame: [stream, 0, 0, 0, length (32 bits, big-endian)] and the data. */
function frame(stream: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

/** A boolean query parameter as docker's daemon reads one (Go's ParseBool: 1, t, true, True...). */
function boolParam(req: Request, k: string): boolean {
  return /^(1|t|true)$/i.test(req.query.get(k) ?? "");
}

/** Errors as the API answers them: docker's status codes for its messages. */
function toHttp(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  const m = (e as Error).message ?? String(e);
  if (/^No such (container|image|object)|not found|Unable to find image/i.test(m)) {
    const image = /Unable to find image '([^']+)'/.exec(m);
    return new HttpError(404, image ? `No such image: ${image[1]}` : m);
  }
  if (/Conflict|already in use|is not running|cannot remove a running/i.test(m)) {
    return new HttpError(409, m);
  }
  if (/invalid|unknown flag|requires|must|bad /i.test(m)) return new HttpError(400, m);
  return new HttpError(500, m);
}
