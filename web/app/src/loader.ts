// The loader a merchant's page includes (S4): a few hundred bytes that do nothing until a
// visitor clicks an element carrying a signed button, then open the call window on callside's
// origin with the button and what the page chose to share — the page, where the visitor came
// from, the shop's pages seen in this tab, and the fields of a form the button names — so the
// page itself stays as it is. While a call is on, it tells the call window which page the
// visitor is on (page follow), and only that window. Paste:
//
//   <script src="https://callside.example/loader.js" async></script>
//   <button data-callside-merchant="mer_…" data-callside-button="eyJ…" data-callside-form="#order">Call us</button>

(() => {
  const script = document.currentScript as HTMLScriptElement | null;
  const server = new URL(script?.src ?? location.href).origin;
  const SEEN = "callside.pages";
  let pages: string[] = [];
  try {
    pages = (JSON.parse(sessionStorage.getItem(SEEN) ?? "[]") as string[]).filter((p) => p !== location.href);
    pages = [...pages, location.href].slice(-20);
    sessionStorage.setItem(SEEN, JSON.stringify(pages));
  } catch {
    /* no storage: no recent pages */
  }
  const http = (u: string) => /^https?:\/\//.test(u);
  // Page follow: the call window (callside's origin) asks the shop's tab where the visitor is.
  addEventListener("message", (e) => {
    if (e.origin === server && e.data === "callside:where") {
      (e.source as Window | null)?.postMessage({ callside: "page", url: location.href, title: document.title }, server);
    }
  });
  document.addEventListener("click", (e) => {
    const el = (e.target as Element | null)?.closest<HTMLElement>("[data-callside-button]");
    if (!el) return;
    e.preventDefault();
    const form: Record<string, string> = {};
    const f = el.dataset.callsideForm ? document.querySelector<HTMLFormElement>(el.dataset.callsideForm) : null;
    if (f) {
      for (const [k, v] of new FormData(f)) if (typeof v === "string" && Object.keys(form).length < 50) form[k] = v;
    }
    const context = {
      page: location.href,
      ...(http(document.referrer) ? { referrer: document.referrer } : {}),
      recent_pages: pages.filter(http).slice(0, -1),
      ...(f ? { form } : {}),
    };
    const json = new TextEncoder().encode(JSON.stringify(context));
    const c = btoa(String.fromCharCode(...json)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const q = new URLSearchParams({ m: el.dataset.callsideMerchant ?? "", b: el.dataset.callsideButton ?? "", c });
    window.open(`${server}/call/#${q}`, "callside-call", "popup,width=420,height=560");
  });
})();

// A module of its own (its names are not the other pages').
export {};
