// The Diffusion server's page: no framework. Reads /v1/models, posts /v1/generate with Accept: text/event-stream and
// shows progress events, then the grid and the denoising GIF from the result event.
"use strict";
const $ = id => document.getElementById(id);
let models = [];

function headers(extra) {
  const h = Object.assign({}, extra);
  const key = $("key").value || localStorage.getItem("diffusion-key");
  if (key) h["X-API-Key"] = key;
  return h;
}

function status(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function problem(response) {
  try { const p = await response.json(); return p.detail || p.title || response.statusText; }
  catch { return response.status + " " + response.statusText; }
}

async function loadModels() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (response.status === 401) { $("key-row").hidden = false; status("This server needs an API key.", true); return; }
  if (!response.ok) { status(await problem(response), true); return; }
  const info = await response.json();
  models = info.models;
  $("model").replaceChildren(...models.map(m => new Option(`${m.name} (${m.width}×${m.height})`, m.name)));
  $("sampler").replaceChildren(...info.samplers.map(s => new Option(s.name, s.name)));
  $("sampler").value = "ddim";
  $("count").max = info.limits.maxCount;
  $("steps").max = info.limits.maxSteps;
  $("guidance").max = info.limits.maxGuidance;
  $("prompt").maxLength = info.limits.maxPromptLength;
  showModel();
  status(models.length ? "" : "No models are loaded.", !models.length);
}

function showModel() {
  const m = models.find(x => x.name === $("model").value);
  if (!m) return;
  $("class-row").hidden = m.conditioning !== "class";
  $("prompt-row").hidden = m.conditioning !== "text";
  $("class").replaceChildren(new Option("(unconditional)", ""), ...(m.classes || []).map((c, i) => new Option(`${i}: ${c}`, String(i))));
  if (m.classes && m.classes.length) $("class").value = "0";
}

function body() {
  const m = models.find(x => x.name === $("model").value);
  const b = {
    model: m.name,
    guidance: Number($("guidance").value), sampler: $("sampler").value, steps: Number($("steps").value),
    seed: Number($("seed").value), count: Number($("count").value), trajectory: $("trajectory").checked,
  };
  if (m.conditioning === "class" && $("class").value !== "") b.class = Number($("class").value);
  if (m.conditioning === "text" && $("prompt").value.trim()) b.prompt = $("prompt").value.trim();
  return b;
}

function show(result) {
  $("grid").src = "data:image/png;base64," + result.grid;
  $("animation-figure").hidden = !result.gif;
  if (result.gif) $("animation").src = "data:image/gif;base64," + result.gif;
  const p = result.parameters;
  $("params").textContent = `${p.count} image(s), ${p.sampler} ${p.steps} steps, guidance ${p.guidanceScale ?? "–"}, seed ${p.seed}, ` +
    `${result.milliseconds} ms` + (result.batchRequests > 1 ? `, batched with ${result.batchRequests - 1} other request(s)` : "");
  $("output").hidden = false;
}

// Reads a text/event-stream body: "event: NAME\ndata: JSON\n\n" blocks.
async function events(response, handle) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      handle(name, JSON.parse(data));
    }
  }
}

async function generate(e) {
  e.preventDefault();
  if ($("key").value) localStorage.setItem("diffusion-key", $("key").value);
  $("generate").disabled = true;
  $("progress").hidden = false;
  $("progress").value = 0;
  status("Queued …");
  try {
    const response = await fetch("/v1/generate", {
      method: "POST", body: JSON.stringify(body()),
      headers: headers({ "Content-Type": "application/json", "Accept": "text/event-stream" }),
    });
    if (!response.ok) { status(await problem(response), true); return; }
    await events(response, (name, data) => {
      if (name === "progress") { $("progress").value = data.step / data.steps; status(`Step ${data.step} of ${data.steps}`); }
      else if (name === "result") { show(data); status("Done."); }
      else if (name === "error") status(data.detail || data.title, true);
    });
  } catch (err) {
    status("The request failed: " + err.message, true);
  } finally {
    $("generate").disabled = false;
    $("progress").hidden = true;
  }
}

$("model").addEventListener("change", showModel);
$("form").addEventListener("submit", generate);
$("key").addEventListener("change", loadModels);
loadModels();
