// Bun.serve (Bun's own HTTP server, not node:http) for the held-out
// simulation, the routes of fetchapp.js.
// usage: bun bunserver.js PORT IDLE_TIMEOUT_S
import { app } from "./fetchapp.js";
const [port, idle] = process.argv.slice(2).map(Number);
Bun.serve({ hostname: "127.0.0.1", port, idleTimeout: idle, fetch: app("bun") });
