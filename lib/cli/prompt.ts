/**
 * docker's confirmation prompt: the question and ` [y/N] ` on stdout, one
 * line read from stdin (a terminal or not), and only `y` or `Y` is a yes;
 * an empty line or the end of stdin is a no.
 * @module
 */

/** Reads one line from a stream (without its newline); undefined at the end of input. */
export async function readLine(
  input: { read(p: Uint8Array): Promise<number | null> },
): Promise<string | undefined> {
  const bytes: number[] = [];
  const buf = new Uint8Array(1);
  // One byte at a time: what follows the line stays unread for whoever reads next.
  for (;;) {
    const n = await input.read(buf);
    if (n === null || n === 0) break;
    if (buf[0] === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
    bytes.push(buf[0]);
  }
  return bytes.length ? new TextDecoder().decode(new Uint8Array(bytes)) : undefined;
}

/** Asks `message [y/N] ` and says whether the answer was yes. */
export async function confirm(
  message: string,
  io: {
    readonly input: { read(p: Uint8Array): Promise<number | null> };
    readonly output: { writeSync(p: Uint8Array): number };
  } = { input: Deno.stdin, output: Deno.stdout },
): Promise<boolean> {
  io.output.writeSync(new TextEncoder().encode(`${message} [y/N] `));
  const answer = await readLine(io.input);
  return answer?.trim().toLowerCase() === "y";
}
