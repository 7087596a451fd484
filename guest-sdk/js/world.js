// The component's entry: `switchboard build` bundles this, not the app's
// module, so that the component exports every interface of the world
// `realtime-app` whichever of them the app's module exports itself. The
// build points "switchboard:the-app" at the app's module; `worldExports`
// (index.js) fills in what the module leaves out from the app it made
// with `app`. The names below are the world's exports as jco names them
// (types/realtime-app.d.ts).

import * as theApp from "switchboard:the-app";
import { worldExports } from "switchboard";

export const { handler, lifecycle, presence, timerHandler, feedHandler } = worldExports(theApp);
