/**
 * Descriptor passing over real AF_UNIX sockets in a temporary directory: a
 * pipe's end and a pty master go through sendFd and come out of recvFd as the
 * same open files; python3's socket module on the other side of either call
 * shows the wire format is the standard one; failures name the socket path
 * and the errno; paths longer than a socket address work. No root needed.
 */
import assert from "node:assert/strict";
import { SyscallError } from "../../ffi/errno.ts";
import { O, TIOC } from "../../ffi/constants.ts";
import { close, ioctl, open, pipe, readSync, writeAll } from "../../ffi/sys.ts";
import { listenUnix, MAX_PAYLOAD, recvFd, recvFdAsync, sendFd } from "../../ffi/unix_socket.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function inTempDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ctr-unix-socket-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads what is available on `fd` (one read) as text. */
function readText(fd: number): string {
  const buf = new Uint8Array(256);
  return dec.decode(buf.subarray(0, readSync(fd, buf)));
}

/** The pty number (TIOCGPTN) of a pty master. */
function ptyNumber(master: number): number {
  const n = new Uint8Array(4);
  ioctl(master, TIOC.GPTN, n);
  return new DataView(n.buffer).getUint32(0, true);
}

/** The path of python3, or undefined when there is none. */
function python3(): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const p = `${dir}/python3`;
      if (Deno.statSync(p).isFile) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** A test that is skipped (with its reason in the name) when python3 is missing. */
function pythonTest(name: string, fn: (py: string) => Promise<void>): void {
  const py = python3();
  Deno.test({
    name: py ? name : `${name} (skipped: no python3 on PATH)`,
    ignore: !py,
    fn: () => fn(py!),
  });
}

Deno.test("a pipe's write end sent by sendFd writes into the same pipe", () =>
  inTempDir((dir) => {
    const path = `${dir}/console.sock`;
    const listener = listenUnix(path);
    const [r, w] = pipe();
    try {
      assert.ok(Deno.lstatSync(path).isSocket);
      // connect completes into the backlog, so the send finishes before accept.
      sendFd(path, w, "pipe");
      close(w);
      const got = recvFd(listener);
      assert.equal(got.payload, "pipe");
      assert.notEqual(got.fd, w);
      writeAll(got.fd, enc.encode("through the received fd"));
      close(got.fd);
      assert.equal(readText(r), "through the received fd");
      // Both write ends are closed now: the pipe reports EOF, so no other copy exists.
      assert.equal(readText(r), "");
    } finally {
      close(r);
      close(listener);
    }
  }));

Deno.test("a pty master arrives as the same pty; the default payload is runc's", () =>
  inTempDir((dir) => {
    const path = `${dir}/pty.sock`;
    const listener = listenUnix(path);
    const master = open("/dev/ptmx", O.RDWR | O.NOCTTY);
    try {
      const n = ptyNumber(master);
      sendFd(path, master, `/dev/pts/${n}`);
      const named = recvFd(listener);
      try {
        assert.equal(named.payload, `/dev/pts/${n}`);
        assert.equal(ptyNumber(named.fd), n);
      } finally {
        close(named.fd);
      }
      sendFd(path, master);
      const plain = recvFd(listener);
      try {
        assert.equal(plain.payload, "/dev/ptmx");
        assert.equal(ptyNumber(plain.fd), n);
      } finally {
        close(plain.fd);
      }
    } finally {
      close(master);
      close(listener);
    }
  }));

Deno.test("an empty payload goes as one space; an oversized one is refused before connecting", () =>
  inTempDir((dir) => {
    const path = `${dir}/s.sock`;
    const listener = listenUnix(path);
    const [r, w] = pipe();
    try {
      sendFd(path, w, "");
      const got = recvFd(listener);
      close(got.fd);
      assert.equal(got.payload, " ");
      assert.throws(
        () => sendFd(path, w, "x".repeat(MAX_PAYLOAD + 1)),
        (e: Error) => e.message.includes(path) && e.message.includes(`${MAX_PAYLOAD}`),
      );
    } finally {
      close(r);
      close(w);
      close(listener);
    }
  }));

Deno.test("recvFdAsync waits on a worker thread while the sender runs later", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/async.sock`;
    const listener = listenUnix(path);
    const [r, w] = pipe();
    try {
      const pending = recvFdAsync(listener);
      // Give the worker time to block in accept4 first.
      await new Promise((resolve) => setTimeout(resolve, 50));
      sendFd(path, w, "later");
      close(w);
      const got = await pending;
      assert.equal(got.payload, "later");
      writeAll(got.fd, enc.encode("async"));
      close(got.fd);
      assert.equal(readText(r), "async");
    } finally {
      close(r);
      close(listener);
    }
  }));

Deno.test("a missing socket names the path and ENOENT", () =>
  inTempDir((dir) => {
    const [r, w] = pipe();
    try {
      const path = `${dir}/missing.sock`;
      assert.throws(() => sendFd(path, w), (e: unknown) => {
        assert.ok(e instanceof SyscallError);
        assert.equal(e.syscall, "connect");
        assert.equal(e.code, "ENOENT");
        assert.ok(e.message.startsWith(`connect ${path}: ENOENT`), e.message);
        return true;
      });
    } finally {
      close(r);
      close(w);
    }
  }));

Deno.test("a socket nobody listens on gives ECONNREFUSED naming the path", () =>
  inTempDir((dir) => {
    const path = `${dir}/stale.sock`;
    // The socket file outlives the closed listener, as after a crashed conmon.
    close(listenUnix(path));
    const [r, w] = pipe();
    try {
      assert.throws(() => sendFd(path, w), (e: unknown) => {
        assert.ok(e instanceof SyscallError);
        assert.equal(e.code, "ECONNREFUSED");
        assert.ok(e.message.includes(path), e.message);
        return true;
      });
    } finally {
      close(r);
      close(w);
    }
  }));

Deno.test("paths longer than a socket address go through /proc/self/fd", () =>
  inTempDir((dir) => {
    const deep = `${dir}/${"d".repeat(60)}/${"e".repeat(60)}`;
    Deno.mkdirSync(deep, { recursive: true });
    const path = `${deep}/console.sock`;
    assert.ok(enc.encode(path).length > 108, `${path} is not long enough`);
    const listener = listenUnix(path);
    const [r, w] = pipe();
    try {
      // Bound under its real name, not under the /proc alias.
      assert.ok(Deno.lstatSync(path).isSocket);
      sendFd(path, w, "deep");
      close(w);
      const got = recvFd(listener);
      assert.equal(got.payload, "deep");
      writeAll(got.fd, enc.encode("long path"));
      close(got.fd);
      assert.equal(readText(r), "long path");

      // Errors still name the real path, not the alias.
      const missing = `${deep}/missing.sock`;
      assert.throws(() => sendFd(missing, r), (e: unknown) => {
        assert.ok(e instanceof SyscallError);
        assert.equal(e.code, "ENOENT");
        assert.ok(e.message.startsWith(`connect ${missing}: ENOENT`), e.message);
        return true;
      });
      const noDir = `${deep}/nodir/x.sock`;
      assert.throws(() => sendFd(noDir, r), (e: unknown) => {
        assert.ok(e instanceof SyscallError);
        assert.equal(e.code, "ENOENT");
        assert.ok(e.message.includes(`${deep}/nodir`) && e.message.includes(noDir), e.message);
        return true;
      });
      const longName = `${dir}/${"n".repeat(120)}.sock`;
      assert.throws(() => sendFd(longName, r), (e: unknown) => {
        assert.ok(e instanceof SyscallError);
        assert.equal(e.code, "ENAMETOOLONG");
        assert.ok(e.message.includes(longName), e.message);
        return true;
      });
    } finally {
      close(r);
      close(listener);
    }
  }));

/** Receives with socket.recv_fds and reports the payload, the fd count and the pty number. */
const PY_RECEIVER = `
import fcntl, json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
msg, fds, flags, _ = socket.recv_fds(c, 4096, 4)
ptn = struct.unpack("I", fcntl.ioctl(fds[0], 0x80045430, b"\\0\\0\\0\\0"))[0]
print(json.dumps({"payload": msg.decode(), "fds": len(fds), "ptn": ptn, "flags": flags}))
`;

/** Writes into a pipe, sends its read end with socket.send_fds and exits. */
const PY_SENDER = `
import os, socket, sys
r, w = os.pipe()
os.write(w, b"written by python")
os.close(w)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
socket.send_fds(s, [b"from python"], [r])
s.close()
`;

pythonTest(
  "python3's socket.recv_fds receives the pty master sendFd sends",
  (py) =>
    inTempDir(async (dir) => {
      const path = `${dir}/py.sock`;
      const child = new Deno.Command(py, {
        args: ["-c", PY_RECEIVER, path],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const master = open("/dev/ptmx", O.RDWR | O.NOCTTY);
      try {
        const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let out = "";
        while (!out.includes("ready\n")) {
          const { value, done } = await reader.read();
          if (done) break;
          out += value;
        }
        assert.ok(out.includes("ready\n"), `python3 did not start listening: ${out}`);
        const n = ptyNumber(master);
        sendFd(path, master, `/dev/pts/${n}`);
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          out += value;
        }
        const status = await child.status;
        const stderr = dec.decode(await new Response(child.stderr).arrayBuffer());
        assert.equal(status.code, 0, stderr);
        const report = JSON.parse(out.slice(out.indexOf("ready\n") + 6));
        assert.deepEqual(report, { payload: `/dev/pts/${n}`, fds: 1, ptn: n, flags: 0 });
      } finally {
        close(master);
      }
    }),
);

pythonTest(
  "recvFd receives what python3's socket.send_fds sends",
  (py) =>
    inTempDir(async (dir) => {
      const path = `${dir}/from-py.sock`;
      const listener = listenUnix(path);
      try {
        const pending = recvFdAsync(listener);
        const out = await new Deno.Command(py, { args: ["-c", PY_SENDER, path] }).output();
        assert.equal(out.code, 0, dec.decode(out.stderr));
        const got = await pending;
        try {
          assert.equal(got.payload, "from python");
          assert.equal(readText(got.fd), "written by python");
        } finally {
          close(got.fd);
        }
      } finally {
        close(listener);
      }
    }),
);
