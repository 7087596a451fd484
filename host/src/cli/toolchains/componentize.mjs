// `switchboard build app.js` runs this with Node inside its toolchain cache
// (where package.json and package-lock.json beside it are installed with
// `npm ci`):
//
//     node componentize.mjs component BACKEND APP SDK WIT WORLD OUT
//     node componentize.mjs types WIT WORLD OUTDIR
//
// `component` bundles the SDK's world.js with rolldown: that entry imports
// APP (as "switchboard:the-app") and exports every interface of the world,
// those APP does not export taken from the app it made with `app(...)`, so
// an app that exports fewer than the world has still builds. Imports of
// "switchboard" resolve to the SDK, any other package to what the app
// installed beside it; the world's own imports (`switchboard:app/...`) are
// kept for the component. Then BACKEND makes the component:
// `starlingmonkey` (componentize-js) or `quickjs` (componentize-qjs). The `jco componentize` CLI is not used: 1.35 fails on
// WIT paths ("failed to get path metadata"), the APIs do not. On success it
// prints one JSON line: {"backend", "version", "bytes"}; on failure the
// error's message on stderr and exit status 1.
//
// `types` writes the TypeScript declarations of the world's interfaces, as
// `jco guest-types` generates them. It calls jco's type generator with the
// WIT's text rather than its path: `jco guest-types` 1.35 cannot read WIT
// paths either ("failed to read path for WIT").

import { readFile, writeFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { rolldown } from "rolldown";

const [command, ...args] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

// Read from the installed package itself: what ran, not what was asked for.
async function versionOf(pkg) {
  const manifest = join(here, "node_modules", pkg, "package.json");
  return JSON.parse(await readFile(manifest, "utf8")).version;
}

async function bundle(dir, app, sdk) {
  const entry = join(sdk, "world.js");
  const build = await rolldown({
    input: entry,
    platform: "neutral",
    external: [/^switchboard:app\//, /^wasi:/],
    resolve: { alias: { switchboard: join(sdk, "index.js") } },
    plugins: [
      {
        name: "the-app",
        resolveId: (source, importer) =>
          source === "switchboard:the-app" && importer === entry ? app : null,
      },
    ],
    logLevel: "warn",
  });
  const path = join(dir, "app.bundle.js");
  await build.write({ file: path, format: "esm" });
  await build.close();
  return path;
}

async function types() {
  const [wit, world, outDir] = args;
  const generator = join(
    here, "node_modules/@bytecodealliance/jco-transpile/vendor/js-component-bindgen-component.js",
  );
  const { $init, generateTypes } = await import(pathToFileURL(generator));
  await $init;
  const files = generateTypes(world, {
    wit: { tag: "source", val: await readFile(join(wit, "switchboard.wit"), "utf8") },
    world,
    guest: true,
    tlaCompat: false,
    features: { tag: "list", val: [] },
  });
  for (const [name, bytes] of files) {
    const path = join(outDir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  }
}

async function component() {
  const [backend, app, sdk, wit, world, out] = args;
  const dir = await mkdtemp(join(tmpdir(), "switchboard-js-"));
  try {
    const bundled = await bundle(dir, app, sdk);
    let component;
    let pkg;
    if (backend === "starlingmonkey") {
      pkg = "@bytecodealliance/componentize-js";
      const { componentize } = await import(pkg);
      ({ component } = await componentize({
        sourcePath: bundled,
        witPath: wit,
        worldName: world,
        // No outgoing HTTP and no fetch event: the world has neither, and
        // the host grants no wasi:http.
        disableFeatures: ["http", "fetch-event"],
      }));
    } else if (backend === "quickjs") {
      pkg = "componentize-qjs";
      const { componentize } = require(pkg);
      ({ component } = await componentize({
        witPath: wit,
        world,
        jsSource: await readFile(bundled, "utf8"),
        jsPath: bundled,
        // The host runs components without the component-model async ABI.
        sync: true,
      }));
    } else {
      throw new Error(`unknown JavaScript backend ${backend}`);
    }
    await writeFile(out, component);
    console.log(JSON.stringify({ backend: pkg, version: await versionOf(pkg), bytes: component.length }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const commands = { component, types };
(commands[command] ?? (() => Promise.reject(new Error(`unknown command ${command}`))))().catch((error) => {
  // The message, not the stack: a syntax error's message points into the
  // app (line, column, the line itself), the stack only into the toolchain.
  const text = String(error && error.message !== undefined ? error.message : error).trim();
  console.error(text);
  process.exit(1);
});
