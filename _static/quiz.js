/* The book's quiz box: interview questions drawn from a seed, answered by the formulas.
 *
 * A JavaScript copy of cnnlib.quiz (cnnlib/quiz.py, cnnlib/_quiz_layers.py and the
 * generator in cnnlib/_seeded.py): the same tables, the same draws in the same order, the same
 * words, so that seed N gives the same question here as in a notebook.
 * tests/test_quiz_browser.py runs this file in a headless browser and compares the two on
 * hundreds of seeds per kind. Change one, change the other.
 *
 * A page asks for a box with <div class="cnn-quiz"></div> (data-kinds="a,b" to offer only
 * some kinds). No server and no network: everything runs in the reader's browser.
 */
(function () {
  "use strict";

  // --- the generator: mulberry32, as cnnlib/_seeded.py --------------------------------------
  function Mulberry32(seed) {
    let a = seed >>> 0;
    this.random = function () {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t = ((t + Math.imul(t ^ (t >>> 7), t | 61)) ^ t) >>> 0;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    this.below = function (n) { return Math.floor(this.random() * n); };
    this.pick = function (items) { return items[this.below(items.length)]; };
  }

  // --- the layers: cnnlib/_quiz_layers.py ------------------------------------------------------
  const CONV_PATTERNS = [[3, 1, 1, 1], [3, 1, 1, 1], [3, 2, 1, 1], [3, 1, 0, 1], [5, 1, 0, 1],
    [1, 1, 0, 1], [1, 2, 0, 1], [5, 1, 2, 1], [3, 2, 0, 1], [3, 1, 2, 2], [7, 1, 3, 1]];
  const STEMS = [[11, 4, 0, 96], [11, 4, 2, 64], [7, 2, 3, 64], [5, 2, 2, 32]];
  const STEM_SIZES = [224, 227];
  const POOLS = [[2, 2, 0], [2, 2, 0], [3, 2, 0], [3, 2, 1]];
  const SIZES = [7, 8, 13, 14, 15, 27, 28, 31, 32, 55, 56, 64, 112];
  const CHANNELS = [3, 16, 32, 64, 96, 128, 192, 256, 384, 512];
  const LINEAR_INPUTS = [[16, 5], [256, 6], [512, 7], [512, 1], [2048, 1], [64, 8], [120, 1],
    [84, 1], [4096, 1], [128, 4]];
  const LINEAR_OUTPUTS = [10, 84, 100, 1000, 4096];
  const X = "\u00d7";

  function kEff(l) { return (l.d || 1) * (l.k - 1) + 1; }
  function fits(n, k, p, d) { return n + 2 * p >= (d || 1) * (k - 1) + 1; }

  function drawConv(rng, c, n, stem, bn, relu) {
    const useStem = rng.below(4) === 0;
    let k, s, p, d, cout;
    if (c === null && stem && useStem) {
      [k, s, p, cout] = rng.pick(STEMS);
      c = 3; n = rng.pick(STEM_SIZES); d = 1;
    } else {
      if (n === null) n = rng.pick(SIZES);
      [k, s, p, d] = rng.pick(CONV_PATTERNS.filter((q) => fits(n, q[0], q[2], q[3])));
      if (c === null) c = rng.pick(CHANNELS);
      cout = rng.pick(CHANNELS.slice(1));
    }
    const grouped = rng.below(6) === 0;
    const groups = grouped && c % 2 === 0 ? 2 : 1;
    const withBn = bn && rng.below(2) === 0;
    const bias = rng.below(2) === 0 && !withBn;
    return {type: "conv", c, n, cin: c, cout, k, s, p, d, groups, bias, bn: withBn, relu};
  }

  function drawPool(rng, c, n) {
    if (n === null) n = rng.pick(SIZES);
    if (c === null) c = rng.pick(CHANNELS);
    const [k, s, p] = rng.pick(POOLS.filter((q) => fits(n, q[0], q[2], 1)));
    const type = rng.below(3) > 0 ? "maxpool" : "avgpool";
    return {type, c, n, k, s, p};
  }

  function drawLinear(rng) {
    const [c, n] = rng.pick(LINEAR_INPUTS);
    const fout = rng.pick(LINEAR_OUTPUTS);
    return {type: "linear", c, n, fin: c * n * n, fout, bias: rng.below(4) > 0};
  }

  function drawStack(rng, count, bn) {
    const layers = [];
    let c = null, n = null;
    for (let i = 0; i < count; i++) {
      const pool = rng.below(3) === 0;
      let layer;
      if (pool && i > 0 && layers[layers.length - 1].type === "conv") {
        layer = drawPool(rng, c, n);
      } else {
        layer = drawConv(rng, c, n, true, bn, true);
        if (i === 0 && layer.n < 27) layer.n = layer.n < 14 ? 56 : 2 * layer.n;
      }
      layers.push(layer);
      c = outChannels(layer); n = outSize(layer);
    }
    return layers;
  }

  // The book's formula, PyTorch's floor included (cnnlib.arithmetic.conv_output_size).
  function outSize(l) { return Math.floor((l.n + 2 * l.p - kEff(l)) / l.s) + 1; }
  function outChannels(l) { return l.type === "conv" ? l.cout : l.c; }

  function describe(l) {
    if (l.type === "linear") {
      return ["nn.Flatten()", `nn.Linear(${l.fin}, ${l.fout}${l.bias ? "" : ", bias=False"})`];
    }
    if (l.type !== "conv") {
      const name = l.type === "maxpool" ? "nn.MaxPool2d" : "nn.AvgPool2d";
      const args = `kernel_size=${l.k}` + (l.s === l.k ? "" : `, stride=${l.s}`);
      return [`${name}(${args}${l.p ? `, padding=${l.p}` : ""})`];
    }
    const args = [`${l.cin}`, `${l.cout}`, `kernel_size=${l.k}`];
    if (l.s !== 1) args.push(`stride=${l.s}`);
    if (l.p) args.push(`padding=${l.p}`);
    if (l.d !== 1) args.push(`dilation=${l.d}`);
    if (l.groups !== 1) args.push(`groups=${l.groups}`);
    if (!l.bias) args.push("bias=False");
    const lines = [`nn.Conv2d(${args.join(", ")})`];
    if (l.bn) lines.push(`nn.BatchNorm2d(${l.cout})`);
    if (l.relu) lines.push("nn.ReLU(inplace=True)");
    return lines;
  }

  // --- the questions: cnnlib/quiz.py ------------------------------------------------------------
  const KINDS = ["output_size", "parameters", "mult_adds", "receptive_field",
    "activation_memory", "flatten_features", "chain"];
  const NAMES = {output_size: "Output size", parameters: "Parameters",
    mult_adds: "Multiply-adds", receptive_field: "Receptive field",
    activation_memory: "Activation memory", flatten_features: "Flatten size",
    chain: "A chain of four"};
  const BATCHES = [1, 8, 16, 32, 64, 128, 256];
  const DTYPES = [["float32", 4], ["float32", 4], ["float16", 2], ["bfloat16", 2]];
  const MIB = 1048576;

  function fmt(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  function mib(bytes) {
    const tenths = Math.floor((bytes * 10 + MIB / 2) / MIB);
    return `${fmt(Math.floor(tenths / 10))}.${tenths % 10}`;
  }

  function block(lead, layers, ask) {
    const lines = [];
    layers.forEach((l) => describe(l).forEach((line) => lines.push("    " + line)));
    return lead + "\n" + lines.join("\n") + "\n" + ask;
  }

  function shape(l) { return `${l.c}${X}${l.n}${X}${l.n}`; }

  function label(l) {
    if (l.type === "linear") return `Linear(${l.fin}, ${l.fout})`;
    const name = {conv: "Conv2d", maxpool: "MaxPool2d", avgpool: "AvgPool2d"}[l.type];
    const extra = (l.d || 1) !== 1 ? `, dilation ${l.d}` : "";
    return `${name} ${l.k}${X}${l.k}, stride ${l.s}, padding ${l.p}${extra}`;
  }

  function sizeSteps(l) {
    const d = l.d || 1, span = kEff(l), num = l.n + 2 * l.p - span, out = outSize(l);
    const q = Math.floor(num / l.s);
    const kernel = d === 1 ? `${span}` : `(${d}${X}(${l.k}-1)+1)`;
    const steps = [`${label(l)}: floor((${l.n} + 2${X}${l.p} - ${kernel}) / ${l.s}) + 1 = ` +
      `floor(${num} / ${l.s}) + 1 = ${q} + 1 = ${out}`];
    const left = num % l.s;
    if (left) {
      const [what, them] = left === 1 ? ["row fits", "it"] : [`${left} rows fit`, "them"];
      steps.push(`  ${num} = ${l.s}${X}${q} + ${left}: the last ${what} no window, and ` +
        `PyTorch drops ${them} without a word`);
    }
    if (l.k === 11 && l.s === 4 && l.p === 0 && l.n === 224) {
      steps.push(`  AlexNet's paper says 224${X}224 inputs, but its 55${X}55 maps need 227`);
    }
    return steps;
  }

  function convWeights(l) { return l.cout * (l.cin / l.groups) * l.k * l.k; }

  function paramSteps(l) {
    if (l.type === "linear") {
      const weights = l.fin * l.fout, biases = l.bias ? l.fout : 0;
      return [[`${label(l)}: weights ${fmt(l.fin)} ${X} ${fmt(l.fout)} = ${fmt(weights)}, ` +
        (biases ? `biases ${fmt(biases)}` : "no bias")], [weights, biases]];
    }
    if (l.type !== "conv") return [[], [0]];
    const weights = convWeights(l), biases = l.bias ? l.cout : 0;
    const per = l.groups === 1 ? `${l.cin / l.groups}` : `(${l.cin}/${l.groups})`;
    const steps = [`${label(l)}: weights ${l.cout} ${X} ${per} ${X} ${l.k}${X}${l.k} = ` +
      `${fmt(weights)}, ` + (biases ? `biases ${l.cout}` : "no bias (bias=False)")];
    if (l.groups > 1) {
      steps.push(`  groups=${l.groups}: each filter sees ${l.cin / l.groups} of the ${l.cin} ` +
        "input channels");
    }
    if (!l.bn) return [steps, [weights, biases]];
    steps.push(`BatchNorm2d(${l.cout}): a scale and a shift per channel, 2 ${X} ${l.cout} = ` +
      `${fmt(2 * l.cout)} (its running mean and variance are buffers, not parameters)`);
    return [steps, [weights, biases, 2 * l.cout]];
  }

  function macSteps(l) {
    if (l.type === "linear") {
      const macs = l.fin * l.fout;
      return [[`${label(l)}: ${fmt(l.fin)} ${X} ${fmt(l.fout)} = ${fmt(macs)}`], macs];
    }
    if (l.type !== "conv") return [[], 0];
    const out = outSize(l), per = (l.cin / l.groups) * l.k * l.k;
    const values = l.cout * out * out, macs = per * values;
    return [sizeSteps(l).concat([`  each of the ${l.cout}${X}${out}${X}${out} = ` +
      `${fmt(values)} output values is a dot product of ${l.cin / l.groups}${X}${l.k}${X}` +
      `${l.k} = ${fmt(per)} products: ${fmt(per)} ${X} ${fmt(values)} = ${fmt(macs)}`]), macs];
  }

  function total(steps, counts, what) {
    const sum = counts.reduce((a, b) => a + b, 0);
    const shown = counts.filter((c) => c);
    if (shown.length > 1) steps.push(`${what}: ${shown.map(fmt).join(" + ")} = ${fmt(sum)}`);
    return sum;
  }

  function makeQuestion(kind, seed, text, answer, steps, extra) {
    const q = Object.assign({kind, seed, text, answer, steps, tolerance: 0, parts: []},
      extra || {});
    q.explain = function () {
      if (q.parts.length) {
        return q.parts.map((p, i) => `${i + 1}. ` + p.explain()).join("\n\n");
      }
      return q.steps.join("\n");
    };
    return q;
  }

  function one(kind, seed, lead, layers, ask, answer, steps) {
    return makeQuestion(kind, seed, block(`Input ${shape(lead)}, then:`, layers, ask), answer,
      steps);
  }

  function outputSize(rng, kind, seed) {
    const conv = rng.below(4) > 0;
    const l = conv ? drawConv(rng, null, null, true, false, false) : drawPool(rng, null, null);
    return one(kind, seed, l, [l], "What is the height of the output?", outSize(l),
      ["out = floor((n + 2p - k) / s) + 1"].concat(sizeSteps(l)));
  }

  function parameters(rng, kind, seed) {
    const linear = rng.below(4) === 0;
    const l = linear ? drawLinear(rng) : drawConv(rng, null, null, true, true, false);
    const [steps, counts] = paramSteps(l);
    const sum = total(steps, counts, "total");
    return one(kind, seed, l, [l], "How many parameters do these modules hold?", sum, steps);
  }

  function multAdds(rng, kind, seed) {
    const linear = rng.below(5) === 0;
    const l = linear ? drawLinear(rng) : drawConv(rng, null, null, true, false, false);
    const [steps, macs] = macSteps(l);
    return one(kind, seed, l, [l], "How many multiply-adds for one image? (One per weight " +
      "and output position; the bias additions are left out.)", macs, steps);
  }

  function fieldSteps(layers) {
    const steps = ["r: the field's side in input pixels; j: the input pixels between " +
      "neighbouring outputs. Start at r = 1, j = 1; each layer: r += (k_eff - 1) " + X +
      " j, j " + X + "= s"];
    let r = 1, j = 1;
    layers.forEach((l) => {
      const r2 = r + (kEff(l) - 1) * j, j2 = j * l.s;
      steps.push(`${label(l)}: r = ${r} + (${kEff(l)} - 1) ${X} ${j} = ${r2}, ` +
        `j = ${j} ${X} ${l.s} = ${j2}`);
      r = r2; j = j2;
    });
    steps.push(`one output pixel sees ${r}${X}${r} input pixels`);
    return [steps, r];
  }

  function receptiveField(rng, kind, seed) {
    const layers = drawStack(rng, 2 + rng.below(3), false);
    const [steps, r] = fieldSteps(layers);
    return one(kind, seed, layers[0], layers, "How wide is the receptive field of one output " +
      "pixel, in input pixels?", r, steps);
  }

  function activationMemory(rng, kind, seed) {
    const layers = drawStack(rng, 1 + rng.below(3), false);
    const batch = rng.pick(BATCHES);
    const [dtype, size] = rng.pick(DTYPES);
    const training = rng.below(2) === 0;
    const first = layers[0];
    const ins = layers.map((l) => l.c * l.n * l.n);
    const outs = layers.map((l) => outChannels(l) * outSize(l) * outSize(l));
    const steps = layers.map((l, i) => `${label(l)}: output ${outChannels(l)}${X}` +
      `${outSize(l)}${X}${outSize(l)} = ${fmt(outs[i])} values an image`);
    let values, ask;
    if (training) {
      values = outs.reduce((a, b) => a + b, 0);
      if (outs.length > 1) {
        steps.push(`kept for the backward pass: ${outs.map(fmt).join(" + ")} = ` +
          `${fmt(values)} values an image`);
      }
      ask = "In training, every layer's output is kept for the backward pass (count each " +
        "Conv2d and pooling output once: the ReLUs work in place; leave the input out). " +
        "How many MiB is that?";
    } else {
      const pairs = ins.map((v, i) => v + outs[i]);
      values = Math.max(...pairs);
      const at = pairs.indexOf(values);
      steps.push(`input + output of each layer: ${pairs.map(fmt).join(", ")}; ` +
        `the largest, ${fmt(values)}, at layer ${at + 1}`);
      ask = "In inference, each output is freed once the next layer has used it, so a " +
        "layer's input and output are all that is held at once. What is the peak, in MiB?";
    }
    const bytes = values * batch * size;
    steps.push(`${fmt(values)} ${X} batch ${batch} ${X} ${size} bytes = ${fmt(bytes)} bytes = ` +
      `${fmt(bytes)} / 1,048,576 \u2248 ${mib(bytes)} MiB`);
    const lead = `A batch of ${batch} inputs of ${shape(first)} in ${dtype} (${size} bytes a ` +
      "value), then:";
    const text = block(lead, layers, ask + " (1 MiB = 2^20 bytes; one decimal is enough.)");
    return makeQuestion(kind, seed, text, bytes / MIB, steps, {tolerance: 0.05, bytes});
  }

  function flattenFeatures(rng, kind, seed) {
    const layers = drawStack(rng, 2 + rng.below(3), false);
    const last = layers[layers.length - 1];
    const c = outChannels(last), o = outSize(last);
    const steps = [].concat(...layers.map(sizeSteps));
    steps.push(`flattened: ${c} ${X} ${o} ${X} ${o} = ${fmt(c * o * o)}`);
    return one(kind, seed, layers[0], layers, "Then nn.Flatten() and nn.Linear(?, 10). What " +
      "must in_features be?", c * o * o, steps);
  }

  function chain(rng, kind, seed) {
    const layers = drawStack(rng, 2 + rng.below(2), true);
    const sizes = [].concat(...layers.map(sizeSteps));
    let paramLines = [], counts = [], macLines = [], macs = [];
    layers.forEach((l) => {
      const [lines, layerCounts] = paramSteps(l);
      paramLines = paramLines.concat(lines);
      counts.push(layerCounts.reduce((a, b) => a + b, 0));
      const [mlines, m] = macSteps(l);
      macLines = macLines.concat(mlines);
      macs.push(m);
    });
    const params = total(paramLines, counts, "total");
    const macTotal = total(macLines, macs, "total");
    const [fieldLines, r] = fieldSteps(layers);
    const asks = [["The height of the output?", outSize(layers[layers.length - 1]), sizes],
      ["The parameters, in all?", params, paramLines],
      ["The multiply-adds for one image (the convolutions only)?", macTotal, macLines],
      ["The receptive field of one output pixel, in input pixels?", r, fieldLines]];
    const parts = asks.map(([ask, answer, steps]) => makeQuestion(kind, seed, ask, answer,
      steps));
    const ask = asks.map(([a], i) => `${i + 1}. ${a}`).join("\n");
    return makeQuestion(kind, seed, block(`Input ${shape(layers[0])}, then:`, layers, ask),
      parts.map((p) => p.answer), [], {parts});
  }

  const MAKERS = {output_size: outputSize, parameters, mult_adds: multAdds,
    receptive_field: receptiveField, activation_memory: activationMemory,
    flatten_features: flattenFeatures, chain};

  function question(kind, seed) {
    if (!MAKERS[kind]) throw new Error(`unknown question kind ${kind}; the kinds are: ` +
      KINDS.join(", "));
    if (!Number.isInteger(seed) || seed < 0 || seed > 4294967295) {
      throw new Error(`seed must be a whole number from 0 to 4,294,967,295, got ${seed}`);
    }
    const rng = new Mulberry32((seed + 1000003 * KINDS.indexOf(kind)) >>> 0);
    return MAKERS[kind](rng, kind, seed);
  }

  function shown(q) {
    if (q.parts.length) return q.parts.map(shown).join("; ");
    if (q.tolerance) return `about ${mib(q.bytes)} MiB`;
    return fmt(q.answer);
  }

  // A typed answer as a number (cnnlib.quiz.as_number): "1,234", " 24.5 "; NaN if it is none.
  function asNumber(typed) {
    const text = String(typed).trim().replace(/[,_ ]/g, "");
    return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : NaN;
  }

  function check(q, typed) {
    const n = asNumber(typed);
    if (Number.isNaN(n)) return null;
    return q.tolerance ? Math.abs(n - q.answer) <= q.tolerance + 1e-9 : n === q.answer;
  }

  // --- the box on the page ----------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function fromHash() {
    const m = /^#quiz=([a-z_]+):(\d+)$/.exec(window.location.hash);
    return m && MAKERS[m[1]] ? {kind: m[1], seed: Number(m[2])} : null;
  }

  function newSeed() { return Math.floor(Math.random() * 4294967296); }

  function Box(root) {
    const offered = (root.dataset.kinds || KINDS.join(",")).split(",").map((k) => k.trim())
      .filter((k) => MAKERS[k]);
    root.textContent = "";
    const head = el("div", "cnn-quiz-head");
    head.appendChild(el("span", "cnn-quiz-title", "Practice question"));
    const select = el("select", "cnn-quiz-kind");
    select.setAttribute("aria-label", "kind of question");
    [["any", "Any kind"]].concat(offered.map((k) => [k, NAMES[k]])).forEach(([v, t]) => {
      const o = el("option", null, t);
      o.value = v;
      select.appendChild(o);
    });
    const next = el("button", "cnn-quiz-new", "New question");
    next.type = "button";
    head.append(select, next);
    const text = el("pre", "cnn-quiz-text");
    const answers = el("div", "cnn-quiz-answers");
    const verdict = el("div", "cnn-quiz-verdict");
    verdict.setAttribute("aria-live", "polite");
    const why = el("pre", "cnn-quiz-why");
    const foot = el("div", "cnn-quiz-foot");
    root.append(head, text, answers, verdict, why, foot);
    let q = null, inputs = [];

    function show(kind, seed) {
      q = question(kind, seed);
      text.textContent = q.text;
      answers.textContent = "";
      inputs = (q.parts.length ? q.parts : [q]).map((part, i) => {
        const row = el("label", "cnn-quiz-row");
        row.appendChild(el("span", null, q.parts.length ? `${i + 1}.` : "Your answer:"));
        const input = el("input", "cnn-quiz-input");
        input.type = "text";
        input.inputMode = "decimal";
        input.autocomplete = "off";
        input.addEventListener("keydown", (e) => { if (e.key === "Enter") judge(false); });
        row.appendChild(input);
        answers.appendChild(row);
        return input;
      });
      const buttons = el("div", "cnn-quiz-buttons");
      const checkButton = el("button", "cnn-quiz-check", "Check");
      const reveal = el("button", "cnn-quiz-reveal", "Show the answer");
      checkButton.type = reveal.type = "button";
      checkButton.addEventListener("click", () => judge(false));
      reveal.addEventListener("click", () => judge(true));
      buttons.append(checkButton, reveal);
      answers.appendChild(buttons);
      verdict.textContent = "";
      verdict.className = "cnn-quiz-verdict";
      why.textContent = "";
      why.hidden = true;
      foot.textContent = "";
      const link = el("a", "cnn-quiz-link", "link to this question");
      link.href = `#quiz=${kind}:${seed}`;
      foot.append(el("span", null, `${NAMES[kind]}, seed ${seed} \u00b7 `), link);
    }

    function judge(revealed) {
      const parts = q.parts.length ? q.parts : [q];
      const marks = parts.map((p, i) => (revealed ? null : check(p, inputs[i].value)));
      const right = marks.every((m) => m === true);
      const lines = parts.map((p, i) => {
        const you = inputs[i].value.trim();
        const head = parts.length > 1 ? `${i + 1}. ` : "";
        if (revealed || you === "") return [`${head}The answer is ${shown(p)}.`, "cnn-quiz-shown"];
        if (marks[i] === null) {
          return [`${head}"${you}" is not a number; the answer is ${shown(p)}.`, "cnn-quiz-wrong"];
        }
        return marks[i] ? [`${head}Right: ${shown(p)}.`, "cnn-quiz-right"] :
          [`${head}Not quite: you said ${you}, the answer is ${shown(p)}.`, "cnn-quiz-wrong"];
      });
      // one line a part, each in its own colour: a chain can be right in three parts of four
      verdict.textContent = "";
      lines.forEach(([line, cls]) => verdict.appendChild(el("div", cls, line)));
      verdict.className = "cnn-quiz-verdict " + (revealed ? "cnn-quiz-shown" :
        right ? "cnn-quiz-right" : "cnn-quiz-wrong");
      why.textContent = q.explain();
      why.hidden = false;
    }

    next.addEventListener("click", () => {
      const kind = select.value === "any" ? offered[Math.floor(Math.random() * offered.length)]
        : select.value;
      show(kind, newSeed());
    });
    this.load = function (wanted) {
      if (wanted && offered.includes(wanted.kind)) {
        show(wanted.kind, wanted.seed);
        return true;
      }
      return false;
    };
    this.offered = offered;
    show(offered[Math.floor(Math.random() * offered.length)], newSeed());
  }

  function start() {
    const boxes = Array.from(document.querySelectorAll("div.cnn-quiz")).map((r) => new Box(r));
    function follow() {
      const wanted = fromHash();
      const box = wanted && boxes.find((b) => b.load(wanted));
      const root = box && document.querySelectorAll("div.cnn-quiz")[boxes.indexOf(box)];
      if (root) root.scrollIntoView({block: "start"});  // below the header: quiz.css
    }
    follow();
    window.addEventListener("hashchange", follow);
  }

  window.cnnQuiz = {KINDS, question, check, shown, Mulberry32, start};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
