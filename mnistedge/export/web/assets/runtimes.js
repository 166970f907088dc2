// One small adapter per browser runtime: open(entry, bytes) -> {run(input, n) -> probabilities}.
//
// onnxruntime-web (wasm backend) runs the .onnx files, LiteRT.js the .tflite files. Each runtime
// is imported on first use, so a page that only shows ONNX models never downloads LiteRT.js.
// Threads are a process-wide setting in both: chosen once, before the first session exists.

const ORT_DIR = new URL('./vendor/onnxruntime-web/', import.meta.url).href;
const LITERT_WASM_DIR = new URL('./vendor/litertjs/wasm/', import.meta.url).href;

/** Workers each runtime started: threads that really engaged, not just the ones asked for. */
export const workersStarted = {'onnxruntime-web': 0, 'litert.js': 0};
const NativeWorker = globalThis.Worker;
if (NativeWorker) {
  globalThis.Worker = class extends NativeWorker {
    constructor(url, options) {
      super(url, options);
      const name = String(url);
      if (name.includes('ort-wasm') || name.includes('onnxruntime')) workersStarted['onnxruntime-web'] += 1;
      else if (name.includes('litert')) workersStarted['litert.js'] += 1;
    }
  };
}

let ortPromise = null;
let litertPromise = null;

async function ortModule(threads) {
  if (!ortPromise) {
    ortPromise = import('./vendor/onnxruntime-web/ort.wasm.min.mjs').then((ort) => {
      ort.env.wasm.wasmPaths = ORT_DIR;
      ort.env.wasm.numThreads = threads; // ORT-web picks 1 thread on 2 cores unless told
      ort.env.wasm.proxy = false;
      ort.env.logLevel = 'error';
      return ort;
    });
  }
  return ortPromise;
}

async function litertModule(threads) {
  if (!litertPromise) {
    litertPromise = import('./vendor/litertjs/core.js').then(async (litert) => {
      // The threaded build needs SharedArrayBuffer, i.e. a cross-origin isolated page.
      await litert.loadLiteRt(LITERT_WASM_DIR, {threads: threads > 1});
      return litert;
    });
  }
  return litertPromise;
}

function product(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/** The input dtype a runtime accepts; LiteRT.js's JS dtype table has no int8 (2.5.x). */
function checkDtype(entry) {
  if (entry.input.dtype !== 'float32') {
    throw new Error(
      `${entry.path}: input dtype ${entry.input.dtype} is not supported in the page; ` +
        'export a float-I/O variant (mnistedge export --format tflite --quantize int8 --io-type float32).',
    );
  }
}

async function openOrt(entry, bytes, threads, versions) {
  const ort = await ortModule(threads);
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  const tail = entry.input.shape.slice(1);
  return {
    runtime: 'onnxruntime-web',
    version: versions['onnxruntime-web'] || ort.env.versions?.web || '',
    backend: 'wasm',
    threads: ort.env.wasm.numThreads,
    async run(input, n) {
      const feeds = {[inputName]: new ort.Tensor('float32', input, [n, ...tail])};
      const results = await session.run(feeds);
      const data = results[outputName].data;
      for (const tensor of Object.values(results)) tensor.dispose?.();
      return data;
    },
    release() {
      return session.release();
    },
  };
}

async function openLiteRt(entry, bytes, threads, versions) {
  const litert = await litertModule(threads);
  const model = await litert.loadAndCompile(bytes, {accelerator: 'wasm', cpuOptions: {numThreads: threads}});
  const [detail] = model.getInputDetails();
  const shape = Array.from(detail.shape);
  if (shape[0] < 1) {
    throw new Error(`${entry.path}: LiteRT.js needs a fixed batch dimension, this model's is dynamic.`);
  }
  return {
    runtime: 'litert.js',
    version: versions['litert.js'] || '',
    backend: threads > 1 ? 'wasm (threaded)' : 'wasm',
    threads,
    async run(input, n) {
      if (n !== shape[0]) throw new Error(`${entry.path} takes exactly ${shape[0]} images per call, got ${n}`);
      const tensor = new litert.Tensor(input, shape);
      let outputs;
      try {
        outputs = await model.run(tensor);
      } finally {
        tensor.delete();
      }
      const data = Float32Array.from(outputs[0].toTypedArray());
      for (const out of outputs) out.delete();
      return data;
    },
    release() {
      model.delete();
    },
  };
}

const OPENERS = {'onnxruntime-web': openOrt, 'litert.js': openLiteRt};

/**
 * Open a model of the bundle in its runtime.
 * @param {object} entry a models.json entry ({path, runtime, input, output, batch, ...})
 * @param {Uint8Array} bytes the model file
 * @param {number} threads wasm threads (the first open fixes it for that runtime)
 * @param {object} versions runtime name -> version, from models.json
 */
export async function openModel(entry, bytes, threads, versions) {
  const opener = OPENERS[entry.runtime];
  if (!opener) throw new Error(`${entry.path}: unknown runtime ${entry.runtime}`);
  checkDtype(entry);
  const session = await opener(entry, bytes, threads, versions);
  return {...session, batch: entry.batch, classes: product(entry.output.shape.slice(1))};
}
