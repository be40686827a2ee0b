/**
 * Filter length, ctr's compiler against libseccomp's (the compiler runc and
 * crun use), for the same resolved profiles, and how many sample calls the
 * two programs decide differently (0 expected). Run by
 * scripts/bench_seccomp.sh.
 */
import { DEFAULT_CAPS } from "../lib/runtime/capabilities.ts";
import { compileFilter } from "../lib/runtime/seccomp/compile.ts";
import { defaultProfile } from "../lib/runtime/seccomp/default.ts";
import { type OciSeccomp, parseProfileText } from "../lib/runtime/seccomp/profile.ts";
import { buildExporter, disagreements, exportLibseccomp } from "./_libseccomp.ts";

const dir = Deno.makeTempDirSync({ prefix: "ctr-bench-seccomp-" });
try {
  const exporter = buildExporter(dir);
  if (!exporter) {
    throw new Error("Cannot build scripts/seccomp_export.c: needs gcc and libseccomp-dev");
  }

  const profiles: [string, (arch: "x86_64" | "aarch64") => OciSeccomp][] = [
    ["ctr default, docker's 14 caps", (arch) => defaultProfile(DEFAULT_CAPS, arch)],
    [
      "ctr default, + CAP_SYS_ADMIN",
      (arch) => defaultProfile([...DEFAULT_CAPS, "SYS_ADMIN"], arch),
    ],
  ];
  try {
    const podman = Deno.readTextFileSync("/usr/share/containers/seccomp.json");
    profiles.push([
      "podman (containers-common)",
      (arch) => parseProfileText(podman, { caps: DEFAULT_CAPS, arch }),
    ]);
  } catch { /* not installed */ }

  console.log(
    "| profile | arch (ABIs) | ctr | libseccomp | libseccomp, binary tree (runc) | calls decided differently |",
  );
  console.log("| --- | --- | ---: | ---: | ---: | ---: |");
  for (const [name, make] of profiles) {
    for (const arch of ["x86_64", "aarch64"] as const) {
      const p = make(arch);
      const ours = compileFilter(p, { arch });
      const plain = await exportLibseccomp(exporter, p, { arch, optimize: 1 });
      const tree = await exportLibseccomp(exporter, p, { arch, optimize: 2 });
      const differ = [...disagreements(ours, plain), ...disagreements(ours, tree)];
      for (const d of differ.slice(0, 5)) console.error(`differs: ${d}`);
      const unknown = plain.unknown.length ? ` (${plain.unknown.length} names unknown to it)` : "";
      console.log(
        `| ${name} | ${arch} (${ours.abis.join(", ")}) | ${ours.instructions} | ` +
          `${plain.instructions}${unknown} | ${tree.instructions} | ${differ.length} |`,
      );
    }
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
