// Search, image detail and zero-shot reading; every call goes to this server's /api, nothing else is fetched.
"use strict";
const $ = id => document.getElementById(id);

async function api(url, options) {
  const response = await fetch(url, options);
  let body;
  try { body = await response.json(); } catch { body = { error: `The server answered ${response.status}.` }; }
  if (!response.ok || body.error) throw new Error(body.error || `The server answered ${response.status}.`);
  return body;
}

function status(element, text, isError) {
  element.textContent = text;
  element.classList.toggle("error", !!isError);
}

function tiles(container, results) {
  container.replaceChildren(...results.map(r => {
    const tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.path = r.path;
    const img = document.createElement("img");
    img.src = "/api/thumbnail?path=" + encodeURIComponent(r.path);
    img.alt = r.path;
    const score = document.createElement("div");
    score.className = "score";
    score.textContent = r.score.toFixed(3);
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = r.path;
    tile.append(img, score, name);
    tile.addEventListener("click", () => showDetail(r.path));
    return tile;
  }));
}

$("search-form").addEventListener("submit", async event => {
  event.preventDefault();
  const q = $("query").value.trim();
  if (!q) { status($("search-status"), "Type a text to search for.", true); return; }
  status($("search-status"), "Searching ...");
  try {
    const body = await api("/api/search?q=" + encodeURIComponent(q));
    tiles($("results"), body.results);
    status($("search-status"), `${body.results.length} images for "${body.query}", most similar first.`);
  } catch (e) { status($("search-status"), e.message, true); }
});

async function showDetail(path) {
  $("detail").hidden = false;
  $("detail-path").textContent = path;
  $("detail-image").src = "/api/image?path=" + encodeURIComponent(path);
  $("detail-report").textContent = "";
  try {
    const [report, similar] = await Promise.all([
      api("/api/report?path=" + encodeURIComponent(path)),
      api("/api/similar?path=" + encodeURIComponent(path) + "&k=8")]);
    $("detail-report").textContent = report.report ?? "(no report beside this image)";
    tiles($("similar"), similar.results);
  } catch (e) { $("detail-report").textContent = e.message; }
  $("detail").scrollIntoView();
}
$("close-detail").addEventListener("click", () => { $("detail").hidden = true; });

$("upload-form").addEventListener("submit", async event => {
  event.preventDefault();
  const file = $("upload").files[0];
  $("bars").replaceChildren();
  if (!file) { status($("upload-status"), "Choose an image file to upload.", true); return; }
  status($("upload-status"), "Reading ...");
  const form = new FormData();
  form.append("image", file);
  try {
    const body = await api("/api/classify", { method: "POST", body: form });
    status($("upload-status"), body.form === "classes"
      ? `${body.name}: probabilities of one softmax over the labels.`
      : `${body.name}: each label's probability from its positive and negative prompts.`);
    $("bars").replaceChildren(...body.labels.map(l => {
      const row = document.createElement("div");
      row.className = "bar-row";
      row.dataset.label = l.label;
      row.dataset.probability = l.probability;
      row.innerHTML = '<div class="bar-label"><span></span><span></span></div><div class="bar-track"><div class="bar"></div></div><div class="prompts"></div>';
      row.querySelector(".bar-label span").textContent = l.label;
      row.querySelector(".bar-label span:last-child").textContent = (100 * l.probability).toFixed(1) + "%";
      row.querySelector(".bar").style.width = (100 * l.probability).toFixed(1) + "%";
      row.querySelector(".prompts").textContent = "+ " + l.positive.join(" | ") + (l.negative.length ? "  − " + l.negative.join(" | ") : "");
      return row;
    }));
  } catch (e) { status($("upload-status"), e.message, true); }
});
