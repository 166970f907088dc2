// The draw-a-digit page and the automation API (window.mnistedge).
//
// Stable hooks (tests and the bench rely on them): <canvas data-testid="pad">, the elements
// data-testid="prediction" / "clear" / "model", window.mnistedge = {ready, models, predict, bench},
// and the URL parameter ?threads=N (plus ?model=PATH to pick the first model shown).

import {grayFromRGBA, toMnist} from './preprocess.js';
import {openModel, workersStarted} from './runtimes.js';

const PIXELS = 784;
const RUNTIME_NAMES = {'litert.js': 'LiteRT.js', 'onnxruntime-web': 'onnxruntime-web'};
const DYNAMIC_CHUNK = 1024; // images per call for a model without a fixed batch
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const params = new URLSearchParams(location.search);
const isolated = globalThis.crossOriginIsolated === true;
const cores = navigator.hardwareConcurrency || 1;

/** Threads asked for (?threads=N), and what the page can give: 1 unless cross-origin isolated. */
function chooseThreads() {
  const text = params.get('threads');
  const asked = text === null ? Math.min(4, cores) : /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(asked) || asked < 1) {
    showError(`?threads=${params.get('threads')} is not a positive integer; using 1 thread.`);
    return {asked: 1, threads: 1};
  }
  if (asked > 1 && !isolated) {
    showNote(`Threads off: the page is not cross-origin isolated (serve it with \`mnistedge serve\`).`);
    return {asked, threads: 1};
  }
  return {asked, threads: asked};
}

function showError(message) {
  const box = $('error');
  box.hidden = false;
  box.textContent = message;
  console.error(message);
}

function showNote(message) {
  const box = $('note');
  box.hidden = false;
  box.textContent = message;
}

const {asked: threadsAsked, threads} = chooseThreads();
// generation: bumped by Clear and by a model change, so a prediction that finishes after either
// is dropped instead of showing a digit on an empty pad.
const state = {catalog: null, sessions: new Map(), current: null, busy: false, pending: false, generation: 0};
const models = []; // filled in place once models.json is read, so window.mnistedge.models stays one array

function entryFor(name) {
  const path = name ?? state.current;
  const entry = state.catalog?.models.find((m) => m.path === path);
  if (!entry) {
    const known = state.catalog ? state.catalog.models.map((m) => m.path).join(', ') : '(none loaded yet)';
    throw new Error(`unknown model ${JSON.stringify(path)}; models: ${known}`);
  }
  return entry;
}

/** The session for a model, opened once (fetch, compile); a failure names the file. */
function session(entry) {
  if (!state.sessions.has(entry.path)) {
    const opening = (async () => {
      const response = await fetch(entry.path);
      if (!response.ok) throw new Error(`${entry.path}: HTTP ${response.status}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      try {
        return await openModel(entry, bytes, threads, state.catalog.runtimes_versions);
      } catch (error) {
        throw new Error(`${entry.path} could not be loaded by ${entry.runtime}: ${error.message ?? error}`);
      }
    })();
    opening.catch(() => state.sessions.delete(entry.path)); // a failed load is retried next time
    state.sessions.set(entry.path, opening);
  }
  return state.sessions.get(entry.path);
}

/** [0, 1] pixels (MNIST convention) -> the model's input values, per its normalization. */
function toModelInput(pixels, entry) {
  const {scale, mean, std} = entry.normalization;
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] * 255 * scale - mean) / std;
  return out;
}

function softmaxRows(values, classes) {
  const out = new Float32Array(values.length);
  for (let r = 0; r < values.length / classes; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, values[r * classes + c]);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[r * classes + c] = Math.exp(values[r * classes + c] - max);
    for (let c = 0; c < classes; c++) out[r * classes + c] /= sum;
  }
  return out;
}

function checkPixels(pixels) {
  if (!(pixels instanceof Float32Array)) {
    const kind = pixels?.constructor?.name ?? typeof pixels;
    throw new TypeError(`predict(pixels): pixels must be a Float32Array of 784·N values in [0, 1], got ${kind}`);
  }
  if (pixels.length === 0 || pixels.length % PIXELS !== 0) {
    throw new RangeError(`predict(pixels): length ${pixels.length} is not a positive multiple of 784 (28×28)`);
  }
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    if (!(v >= 0 && v <= 1)) {
      throw new RangeError(
        `predict(pixels): value ${v} at index ${i} (image ${Math.floor(i / PIXELS)}) is outside [0, 1]; ` +
          'divide 0-255 pixels by 255',
      );
    }
  }
}

/**
 * Classify N preprocessed images (white digit on black, [0, 1], row-major 28×28 each).
 * Fixed-batch models get the images in chunks of their batch, the last chunk zero-padded.
 * @returns {Promise<{labels: Int32Array, probabilities: Float32Array}>}
 */
async function predict(pixels, modelName) {
  await ready;
  checkPixels(pixels);
  const entry = entryFor(modelName);
  const model = await session(entry);
  const n = pixels.length / PIXELS;
  const classes = model.classes;
  const chunk = entry.batch ?? Math.min(n, DYNAMIC_CHUNK);
  const input = toModelInput(pixels, entry);
  const probabilities = new Float32Array(n * classes);
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    let part = input.subarray(start * PIXELS, (start + count) * PIXELS);
    if (entry.batch && count < entry.batch) {
      const padded = new Float32Array(entry.batch * PIXELS);
      padded.set(part);
      part = padded;
    }
    let out = await model.run(part, entry.batch ?? count);
    if (entry.output_kind === 'logits') out = softmaxRows(out, classes);
    probabilities.set(out.subarray(0, count * classes), start * classes);
  }
  const labels = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[r * classes + c] > probabilities[r * classes + best]) best = c;
    labels[r] = best;
  }
  return {labels, probabilities};
}

/**
 * Time the model inside the page: performance.now() around each awaited run of one batch.
 * @param {{model?: string, batch?: number, warmup?: number, runs?: number}} options
 * @returns {Promise<number[]>} milliseconds per run
 */
async function bench({model: modelName, batch, warmup = 10, runs = 100} = {}) {
  await ready;
  const entry = entryFor(modelName);
  const size = batch ?? entry.batch ?? 1;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`bench: batch must be a positive integer, got ${batch}`);
  if (entry.batch && size !== entry.batch) {
    throw new RangeError(`bench: ${entry.path} has a fixed batch of ${entry.batch}; pick its variant for batch ${size}`);
  }
  if (!(Number.isInteger(runs) && runs >= 1 && Number.isInteger(warmup) && warmup >= 0)) {
    throw new RangeError(`bench: runs must be ≥ 1 and warmup ≥ 0 (integers), got runs=${runs}, warmup=${warmup}`);
  }
  const model = await session(entry);
  const input = new Float32Array(size * PIXELS);
  for (let i = 0; i < input.length; i++) input[i] = ((i * 2654435761) % 256) / 255; // deterministic, not all zero
  const values = toModelInput(input, entry);
  for (let i = 0; i < warmup; i++) await model.run(values, size);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await model.run(values, size);
    times.push(performance.now() - start);
  }
  return times;
}

/** What ran a model: runtime, version, backend, threads asked/used, workers started. */
async function info(modelName) {
  await ready;
  const entry = entryFor(modelName);
  const model = await session(entry);
  return {
    model: entry.path,
    runtime: model.runtime,
    version: model.version,
    backend: model.backend,
    threads_asked: threadsAsked,
    threads: model.threads,
    workers: workersStarted[model.runtime],
    cross_origin_isolated: isolated,
    user_agent: navigator.userAgent,
  };
}

// ---- the drawing pad ----

const pad = $('pad');
const ctx = pad.getContext('2d', {willReadFrequently: true});
let drawing = false;
let inked = false;

function clearPad() {
  state.generation += 1;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, pad.width, pad.height);
  inked = false;
  $('prediction').textContent = '–';
  $('top3').replaceChildren();
  $('timing').textContent = 'Draw a digit in the box.';
  const preview = $('preview').getContext('2d');
  preview.fillStyle = '#000';
  preview.fillRect(0, 0, 28, 28);
}

/** Canvas coordinates of a pointer event: inside the border, scaled to the canvas's pixels. */
function point(event) {
  const box = pad.getBoundingClientRect();
  const x = event.clientX - box.left - pad.clientLeft;
  const y = event.clientY - box.top - pad.clientTop;
  return [(x * pad.width) / pad.clientWidth, (y * pad.height) / pad.clientHeight];
}

pad.addEventListener('pointerdown', (event) => {
  drawing = true;
  pad.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x + 0.01, y);
  ctx.stroke();
  inked = true;
  schedule();
});
pad.addEventListener('pointermove', (event) => {
  if (!drawing) return;
  const [x, y] = point(event);
  ctx.lineTo(x, y);
  ctx.stroke();
  schedule();
});
for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, () => {
    drawing = false;
    schedule();
  });
}

/** Predict at most once per frame, and once more after the last stroke. */
function schedule() {
  if (state.busy) {
    state.pending = true;
    return;
  }
  state.busy = true;
  requestAnimationFrame(async () => {
    try {
      await classifyPad();
    } finally {
      state.busy = false;
      if (state.pending) {
        state.pending = false;
        schedule();
      }
    }
  });
}

function drawPreview(mnist) {
  const preview = $('preview').getContext('2d');
  const image = preview.createImageData(28, 28);
  for (let i = 0; i < PIXELS; i++) {
    image.data.set([mnist[i], mnist[i], mnist[i], 255], i * 4);
  }
  preview.putImageData(image, 0, 0);
}

async function classifyPad() {
  if (!inked || !state.current) return;
  const generation = state.generation;
  let mnist;
  try {
    const {data, width, height} = ctx.getImageData(0, 0, pad.width, pad.height);
    mnist = toMnist(grayFromRGBA(data, width, height), width, height);
  } catch (error) {
    $('timing').textContent = String(error.message ?? error);
    return;
  }
  drawPreview(mnist);
  const pixels = Float32Array.from(mnist, (v) => v / 255);
  try {
    const entry = entryFor();
    const model = await session(entry);
    const start = performance.now();
    const {labels, probabilities} = await predict(pixels, entry.path);
    const ms = performance.now() - start;
    if (generation !== state.generation) return; // cleared, or another model picked, meanwhile
    showResult(labels[0], probabilities, ms, model);
  } catch (error) {
    if (generation === state.generation) showError(String(error.message ?? error));
  }
}

function showResult(label, probabilities, ms, model) {
  $('prediction').textContent = String(label);
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a]);
  $('top3').replaceChildren(
    ...order.slice(0, 3).map((digit) => {
      const row = document.createElement('li');
      const p = probabilities[digit];
      row.dataset.digit = String(digit);
      row.innerHTML = `<span class="digit">${digit}</span><span class="bar"><span style="width:${(p * 100).toFixed(1)}%"></span></span><span class="p">${(p * 100).toFixed(1)}%</span>`;
      return row;
    }),
  );
  const threadText = model.threads === 1 ? '1 thread' : `${model.threads} threads`;
  const runtime = RUNTIME_NAMES[model.runtime] ?? model.runtime;
  $('timing').textContent = `${ms.toFixed(2)} ms · ${runtime} ${model.version} · ${model.backend} · ${threadText}`;
}

$('clear').addEventListener('click', clearPad);

// ---- start-up ----

async function init() {
  clearPad();
  ctx.lineWidth = 18;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = '#000';
  $('env').textContent =
    `${isolated ? 'cross-origin isolated' : 'not cross-origin isolated'} · ${threads} wasm thread(s) · ${cores} cores`;
  const response = await fetch('models.json');
  if (!response.ok) throw new Error(`models.json: HTTP ${response.status}; is this an mnistedge web bundle?`);
  state.catalog = await response.json();
  state.catalog.runtimes_versions = Object.fromEntries(
    Object.entries(state.catalog.runtimes).map(([name, rt]) => [name, rt.version]),
  );
  models.push(...state.catalog.models.map((m) => m.path));
  const select = $('model');
  select.replaceChildren(
    ...state.catalog.models.map((m) => {
      const option = document.createElement('option');
      option.value = m.path;
      option.textContent = `${m.label} — ${(m.size_bytes / 1024).toFixed(1)} KiB`;
      return option;
    }),
  );
  const wanted = params.get('model');
  state.current = models.includes(wanted) ? wanted : state.catalog.default_model ?? models[0];
  if (wanted && !models.includes(wanted)) showError(`?model=${wanted} is not in this bundle; showing ${state.current}.`);
  select.value = state.current;
  select.addEventListener('change', async () => {
    state.generation += 1;
    state.current = select.value;
    $('error').hidden = true;
    try {
      await session(entryFor());
    } catch (error) {
      showError(String(error.message ?? error));
      return;
    }
    schedule();
  });
  try {
    await session(entryFor()); // open the first model now: the first stroke is then fast
  } catch (error) {
    showError(String(error.message ?? error));
  }
  document.body.dataset.ready = 'true';
}

const ready = init().catch((error) => {
  showError(`The page could not start: ${error.message ?? error}`);
  throw error;
});
window.mnistedge = {ready, models, predict, bench, info};
