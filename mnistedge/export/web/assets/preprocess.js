/**
 * MNIST-style preprocessing in the browser: a port of Python's
 * `mnistedge.runtime.preprocess.to_mnist`, so that a digit drawn on the page
 * reaches the model as the same 28x28 tensor the CLI would make of it.
 *
 * Steps (as in Python): invert when the border is light, subtract the
 * background, Otsu-threshold the ink, drop specks, crop to the ink, thicken
 * thin strokes, fit into 20x20 keeping aspect (Pillow's LANCZOS, ported),
 * stretch contrast to 0..255, paste into 28x28 with the centre of mass at the
 * centre, round to integers.
 *
 * Arithmetic mirrors numpy's: float32 where the Python arrays are float32
 * (Math.fround), round-half-to-even where Python calls round()/np.rint, and
 * numpy's summation order where a sum decides a rounding. That keeps the
 * output equal to Python's in practice, not merely close.
 *
 * Plain ES module, no dependencies: loads in a browser and under Node.
 */

const FIT = 20; // MNIST digits fill a 20x20 box
const SIZE = 28;
const TARGET_STROKE = 2.2; // MNIST stroke width in pixels at the 20x20 scale, roughly
const f32 = Math.fround;

/**
 * Grayscale in [0, 255] from canvas RGBA pixels, the way Python's load_image
 * reads an RGBA image: alpha-composite onto white, then Pillow's "L"
 * conversion (ITU-R 601-2 luma in Pillow's 16-bit fixed point, which rounds).
 *
 * @param {Uint8ClampedArray|Uint8Array} rgba `ImageData.data`: width*height*4 bytes, not premultiplied.
 * @param {number} width
 * @param {number} height
 * @returns {Float32Array} width*height gray levels, row-major.
 */
export function grayFromRGBA(rgba, width, height) {
  const n = width * height;
  if (rgba.length !== n * 4) {
    throw new Error(`expected ${n * 4} RGBA bytes for ${width}x${height}, got ${rgba.length}`);
  }
  const gray = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = rgba[4 * i + 3];
    const r = overWhite(rgba[4 * i], a);
    const g = overWhite(rgba[4 * i + 1], a);
    const b = overWhite(rgba[4 * i + 2], a);
    // Pillow's fixed-point luma: 0.299/0.587/0.114 scaled by 2^16, rounded (not 299/1000 floored).
    gray[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16;
  }
  return gray;
}

/** One channel over opaque white: Pillow's alpha_composite there is exact rounding (checked for all c, a). */
function overWhite(c, a) {
  return Math.round((c * a + 255 * (255 - a)) / 255);
}

/**
 * One grayscale image of one handwritten digit -> an MNIST-style 28x28 digit:
 * white (255) on black (0), fitted into 20x20, centre of mass at the centre.
 *
 * @param {ArrayLike<number>} gray width*height gray levels in [0, 255], row-major
 *   (dark ink on light paper or light on dark: the border decides).
 * @param {number} width
 * @param {number} height
 * @returns {Float32Array} 784 integer values in 0..255, row-major 28x28.
 * @throws {Error} "no digit found: ..." (same messages as Python) when there is no ink.
 */
export function toMnist(gray, width, height) {
  if (gray.length !== width * height || Math.min(width, height) < 2) {
    throw new Error(`expected a ${width}x${height} image (at least 2x2), got ${gray.length} values`);
  }
  const g = Float32Array.from(gray);
  let background = median(borderOf(g, width, height));
  if (background > 127) {
    // dark ink on light paper -> light ink on black, like MNIST
    for (let i = 0; i < g.length; i++) g[i] = f32(255 - g[i]);
    background = median(borderOf(g, width, height));
  }
  const ink = g.map((v) => Math.max(f32(v - background), 0));
  const inkMax = ink.reduce((m, v) => Math.max(m, v), 0);
  if (inkMax < 16) throw new Error("no digit found: nothing stands out from the background");

  const threshold = Math.max(f32(f32(otsu(ink, inkMax) * inkMax) / 255), 8);
  const mask = despeckle(ink.map((v) => (v > threshold ? 1 : 0)), width, height);
  const box = boundingBox(mask, width, height);
  if (!box) throw new Error("no digit found: the ink is only isolated specks");

  // Crop to the ink; the Python casts to uint8 (truncation) before Pillow sees it.
  const h = box.bottom - box.top;
  const w = box.right - box.left;
  let crop = new Uint8Array(w * h);
  const cropMask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (box.top + y) * width + box.left + x;
      cropMask[y * w + x] = mask[i];
      crop[y * w + x] = mask[i] ? Math.trunc(ink[i]) : 0;
    }
  }
  crop = thicken(crop, cropMask, w, h);

  const scale = FIT / Math.max(h, w);
  const outW = Math.max(1, roundHalfEven(w * scale));
  const outH = Math.max(1, roundHalfEven(h * scale));
  const small = resizeLanczos(crop, w, h, outW, outH);
  const smallMax = small.reduce((m, v) => Math.max(m, v), 0);
  const stretch = f32(255 / Math.max(smallMax, 1));
  const digit = Float32Array.from(small, (v) => Math.min(Math.max(f32(v * stretch), 0), 255));
  return centreOfMassPaste(digit, outW, outH);
}

/** Python's round() and np.rint: halves go to the even neighbour. */
function roundHalfEven(x) {
  const r = Math.round(x); // halves up
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The image's four edges, corners twice, like the Python's np.concatenate. */
function borderOf(g, width, height) {
  const out = [];
  for (let x = 0; x < width; x++) out.push(g[x]);
  for (let x = 0; x < width; x++) out.push(g[(height - 1) * width + x]);
  for (let y = 0; y < height; y++) out.push(g[y * width]);
  for (let y = 0; y < height; y++) out.push(g[y * width + width - 1]);
  return out;
}

/** np.median of float32 values (a float32 result). */
function median(values) {
  const s = Float64Array.from(values).sort();
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : f32((s[mid - 1] + s[mid]) / 2);
}

/** Otsu's threshold (0..255) of the ink stretched to 0..255, with numpy's float order. */
function otsu(ink, inkMax) {
  const hist = new Float64Array(256);
  for (const v of ink) {
    const stretched = f32(f32(v * 255) / inkMax);
    hist[Math.trunc(Math.min(Math.max(stretched, 0), 255))] += 1; // astype(uint8) truncates
  }
  const total = Math.max(ink.length, 1);
  const omega = new Float64Array(256);
  const mu = new Float64Array(256);
  let o = 0;
  let m = 0;
  for (let i = 0; i < 256; i++) {
    const p = hist[i] / total;
    o += p;
    m += p * i;
    omega[i] = o;
    mu[i] = m;
  }
  // np.nanargmax: the first maximum; 0/0 (no ink yet) is NaN and never wins.
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < 256; i++) {
    const d = mu[255] * omega[i] - mu[i];
    const between = (d * d) / (omega[i] * (1 - omega[i]));
    if (between > bestValue) {
      best = i;
      bestValue = between;
    }
  }
  return best;
}

/** Keep ink pixels with at least two ink neighbours (drops sensor noise and dust). */
function despeckle(mask, width, height) {
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      let neighbours = 0;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if ((dy || dx) && yy >= 0 && yy < height && xx >= 0 && xx < width) {
            neighbours += mask[yy * width + xx];
          }
        }
      }
      out[y * width + x] = neighbours >= 2 ? 1 : 0;
    }
  }
  return out;
}

/** The ink's bounding box (bottom/right exclusive), or null when there is none. */
function boundingBox(mask, width, height) {
  let top = height;
  let bottom = 0;
  let left = width;
  let right = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (mask[y * width + x]) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y + 1);
        left = Math.min(left, x);
        right = Math.max(right, x + 1);
      }
    }
  }
  return bottom ? { top, bottom, left, right } : null;
}

/**
 * Dilate strokes thinner than MNIST's (a pen on a big canvas), stroke width
 * measured as 2 * area / perimeter; a square max filter like Pillow's MaxFilter.
 */
function thicken(crop, mask, w, h) {
  let area = 0;
  let edges = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      area += mask[i];
      if (x + 1 < w && mask[i] !== mask[i + 1]) edges++;
      if (y + 1 < h && mask[i] !== mask[i + w]) edges++;
    }
  }
  const width = (2 * area) / Math.max(edges, 1);
  const wanted = (TARGET_STROKE * Math.max(w, h)) / FIT;
  const radius = roundHalfEven((wanted - width) / 2);
  if (radius < 1) return crop;
  // A square window's max is the max along rows, then along columns; the edges
  // only shrink the window (Pillow replicates edge pixels, which changes nothing for a max).
  const rows = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = 0;
      for (let xx = Math.max(0, x - radius); xx <= Math.min(w - 1, x + radius); xx++) {
        m = Math.max(m, crop[y * w + xx]);
      }
      rows[y * w + x] = m;
    }
  }
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = 0;
      for (let yy = Math.max(0, y - radius); yy <= Math.min(h - 1, y + radius); yy++) {
        m = Math.max(m, rows[yy * w + x]);
      }
      out[y * w + x] = m;
    }
  }
  return out;
}

// ---- Pillow's LANCZOS resize (libImaging/Resample.c), 8-bit path ----

const PRECISION_BITS = 32 - 8 - 2;

function sinc(x) {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

function lanczos(x) {
  return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0; // a = 3
}

/**
 * Per output pixel along one axis: the first input index and fixed-point
 * weights. The filter's support widens with the downscale factor (an
 * antialiasing low-pass), weights are normalised to sum 1, then scaled to
 * integers as Pillow does for 8-bit images.
 */
function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const taps = [];
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(centre - support + 0.5), 0); // C's (int) truncates
    const xmax = Math.min(Math.trunc(centre + support + 0.5), inSize);
    const weights = [];
    let sum = 0;
    for (let x = xmin; x < xmax; x++) {
      const w = lanczos((x - centre + 0.5) * (1 / filterScale)); // times the reciprocal, as in C
      weights.push(w);
      sum += w;
    }
    const fixed = weights.map((w) => {
      const k = sum !== 0 ? w / sum : w;
      return Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
    });
    taps.push({ first: xmin, weights: fixed });
  }
  return taps;
}

/** Fixed-point sum -> uint8, like Pillow's clip8 (rounding offset already added). */
function clip8(sum) {
  return Math.min(Math.max(sum >> PRECISION_BITS, 0), 255);
}

/** One pass along x (stride 1) or y (stride = width) over a uint8 image. */
function resamplePass(src, w, h, outW, outH, horizontal) {
  const taps = coefficients(horizontal ? w : h, horizontal ? outW : outH);
  const out = new Uint8Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const { first, weights } = taps[horizontal ? x : y];
      let sum = 1 << (PRECISION_BITS - 1);
      for (let k = 0; k < weights.length; k++) {
        const i = horizontal ? y * w + first + k : (first + k) * w + x;
        sum += src[i] * weights[k];
      }
      out[y * outW + x] = clip8(sum);
    }
  }
  return out;
}

/**
 * `Image.resize((outW, outH), LANCZOS)` on an 8-bit gray image: one pass per
 * side that changes, rounded to uint8 in between, so their order shows.
 * Pillow 13 runs the vertical pass first when the height loses more than twice
 * as many pixels as the width (python-pillow/Pillow#9549, a speed-up; found
 * exact on thousands of sizes); earlier Pillows always go horizontal first,
 * which differs by a few levels on tall, narrow digits such as a 1.
 */
function resizeLanczos(src, w, h, outW, outH) {
  let img = src;
  const verticalFirst = outH < h && h - outH > 2 * (w - outW);
  if (verticalFirst && outH !== h) img = resamplePass(img, w, h, w, outH, false);
  const rows = verticalFirst ? outH : h;
  if (outW !== w) img = resamplePass(img, w, rows, outW, rows, true);
  if (!verticalFirst && outH !== h) img = resamplePass(img, outW, h, outW, outH, false);
  return img;
}

// ---- centring, with numpy's float32 sums ----

/**
 * np.sum of a contiguous float32 run: pairwise, 8 accumulators per block of
 * <= 128. The exact order matters only when the centre lands on a half pixel,
 * where it decides which way the paste rounds; matching it keeps that equal too.
 */
function sumF32(a, start, n) {
  const at = (i) => a[start + i];
  if (n < 8) {
    let s = 0;
    for (let i = 0; i < n; i++) s = f32(s + at(i));
    return s;
  }
  if (n <= 128) {
    const r = [0, 1, 2, 3, 4, 5, 6, 7].map(at);
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] = f32(r[j] + at(i + j));
    }
    let s = f32(f32(f32(r[0] + r[1]) + f32(r[2] + r[3])) + f32(f32(r[4] + r[5]) + f32(r[6] + r[7])));
    for (; i < n; i++) s = f32(s + at(i));
    return s;
  }
  let half = Math.floor(n / 2);
  half -= half % 8;
  return f32(sumF32(a, start, half) + sumF32(a, start + half, n - half));
}

/** Paste into 28x28 so the centre of mass is at the centre; np.rint to integers. */
function centreOfMassPaste(digit, w, h) {
  const total = sumF32(digit, 0, w * h);
  // Python would fail on NaN here; an all-black fit can only come from specks.
  if (!(total > 0)) throw new Error("no digit found: the ink is only isolated specks");
  let cy = 0;
  for (let y = 0; y < h; y++) cy += sumF32(digit, y * w, w) * y;
  let cx = 0;
  for (let x = 0; x < w; x++) {
    // numpy sums a column of a 2-D array row by row, but a 1-wide one is contiguous: pairwise.
    let column = 0;
    if (w === 1) column = total;
    else for (let y = 0; y < h; y++) column = f32(column + digit[y * w + x]);
    cx += column * x;
  }
  // The products and their sums are exact in float64, so the order of these dots does not matter.
  cy /= total;
  cx /= total;
  const top = Math.min(Math.max(roundHalfEven(SIZE / 2 - 0.5 - cy), 0), SIZE - h);
  const left = Math.min(Math.max(roundHalfEven(SIZE / 2 - 0.5 - cx), 0), SIZE - w);
  const out = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      out[(top + y) * SIZE + left + x] = roundHalfEven(digit[y * w + x]);
    }
  }
  return out;
}
