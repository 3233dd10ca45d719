// Runs a wasm32-wasip1 program under V8 (node's WASI), the engine Envoy runs the filter in:
//   node bench/wasi-run.mjs PROGRAM.wasm ARGS...
// The filter's examples (filter/examples/) are such programs; `node --cpu-prof` profiles them
// by function (the module keeps its names). Imports other than WASI (the proxy-wasm host the
// filter's library links) are stubbed: the examples never call them.
import { readFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const [wasmPath, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [wasmPath, ...args], env: process.env, preopens: { '/': '/' } });
const module = await WebAssembly.compile(readFileSync(wasmPath));
const imports = { wasi_snapshot_preview1: wasi.wasiImport };
for (const imp of WebAssembly.Module.imports(module)) {
  imports[imp.module] ??= {};
  if (!(imp.name in imports[imp.module])) imports[imp.module][imp.name] = () => 0;
}
const instance = await WebAssembly.instantiate(module, imports);
// The library is also a cdylib, so the program exports `_initialize` beside `_start`; WASI's
// start() takes a command module only.
const exports = { ...instance.exports };
delete exports._initialize;
wasi.start({ exports });
