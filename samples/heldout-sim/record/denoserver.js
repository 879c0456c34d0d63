// Deno.serve (Deno's HTTP server, hyper underneath) for the held-out
// simulation, the routes of fetchapp.js. Deno has no idle-timeout option.
// usage: deno run --allow-net denoserver.js PORT
import { app } from "./fetchapp.js";
Deno.serve({ hostname: "127.0.0.1", port: Number(Deno.args[0]), onListen() {} }, app("deno"));
