// A supervisor's view in the agent console (S4's call centre): each group's waiting calls, how
// long they have waited and from which page, and every agent's status and call — refreshed
// every few seconds while the supervisor is signed in.

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

type Api = (method: string, path: string, body?: unknown) => Promise<Response>;

interface Board {
  queues: { group: string; calls: { id: string; waiting_secs: number; page?: string }[]; handle_secs?: number }[];
  agents: { id: string; name: string; status: string; call?: string; for_secs?: number }[];
}

let timer: ReturnType<typeof setInterval> | undefined;

function duration(secs: number): string {
  return secs < 60 ? `${secs} s` : `${Math.floor(secs / 60)} min ${secs % 60} s`;
}

function cell(row: HTMLTableRowElement, text: string) {
  const td = row.insertCell();
  td.textContent = text;
}

function show(b: Board) {
  const queues = $("board-queues");
  queues.replaceChildren();
  if (b.queues.length === 0) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No calls waiting.";
    queues.append(p);
  }
  for (const q of b.queues) {
    const h = document.createElement("h3");
    const avg = q.handle_secs !== undefined ? `; calls take ${duration(q.handle_secs)} on average` : "";
    h.textContent = `${q.group}: ${q.calls.length} waiting${avg}`;
    const list = document.createElement("ol");
    for (const c of q.calls) {
      const li = document.createElement("li");
      li.textContent = `waiting ${duration(c.waiting_secs)}${c.page ? ` — ${c.page}` : ""}`;
      list.append(li);
    }
    queues.append(h, list);
  }
  const body = $<HTMLTableElement>("board-agents").tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  for (const a of b.agents) {
    const row = body.insertRow();
    cell(row, a.name);
    cell(row, a.status);
    cell(row, a.call ?? "");
    cell(row, a.for_secs !== undefined ? duration(a.for_secs) : "");
  }
}

/** Shows the board when this agent is a supervisor (the server says so). */
export async function startBoard(api: Api) {
  stopBoard();
  const load = async () => show((await (await api("GET", "/v1/agent/board")).json()) as Board);
  try {
    await load();
  } catch {
    return; // not a supervisor: no board
  }
  $("board").hidden = false;
  timer = setInterval(() => void load().catch(() => undefined), 3000);
}

export function stopBoard() {
  clearInterval(timer);
  timer = undefined;
  $("board").hidden = true;
}
