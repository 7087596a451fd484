/// <reference path="./interfaces/switchboard-app-app-info.d.ts" />
/// <reference path="./interfaces/switchboard-app-attachments.d.ts" />
/// <reference path="./interfaces/switchboard-app-connections.d.ts" />
/// <reference path="./interfaces/switchboard-app-feed-handler.d.ts" />
/// <reference path="./interfaces/switchboard-app-feeds.d.ts" />
/// <reference path="./interfaces/switchboard-app-handler.d.ts" />
/// <reference path="./interfaces/switchboard-app-kv.d.ts" />
/// <reference path="./interfaces/switchboard-app-lifecycle.d.ts" />
/// <reference path="./interfaces/switchboard-app-log.d.ts" />
/// <reference path="./interfaces/switchboard-app-presence.d.ts" />
/// <reference path="./interfaces/switchboard-app-timer-handler.d.ts" />
/// <reference path="./interfaces/switchboard-app-timers.d.ts" />
/// <reference path="./interfaces/switchboard-app-topics.d.ts" />
/// <reference path="./interfaces/switchboard-app-types.d.ts" />
declare module 'switchboard:app/realtime-app@0.1.3' {
  export type * as SwitchboardAppAppInfo013 from 'switchboard:app/app-info@0.1.3'; // import switchboard:app/app-info@0.1.3
  export type * as SwitchboardAppAttachments013 from 'switchboard:app/attachments@0.1.3'; // import switchboard:app/attachments@0.1.3
  export type * as SwitchboardAppConnections013 from 'switchboard:app/connections@0.1.3'; // import switchboard:app/connections@0.1.3
  export type * as SwitchboardAppFeeds013 from 'switchboard:app/feeds@0.1.3'; // import switchboard:app/feeds@0.1.3
  export type * as SwitchboardAppKv013 from 'switchboard:app/kv@0.1.3'; // import switchboard:app/kv@0.1.3
  export type * as SwitchboardAppLog013 from 'switchboard:app/log@0.1.3'; // import switchboard:app/log@0.1.3
  export type * as SwitchboardAppTimers013 from 'switchboard:app/timers@0.1.3'; // import switchboard:app/timers@0.1.3
  export type * as SwitchboardAppTopics013 from 'switchboard:app/topics@0.1.3'; // import switchboard:app/topics@0.1.3
  export type * as SwitchboardAppTypes013 from 'switchboard:app/types@0.1.3'; // import switchboard:app/types@0.1.3
  export * as presence from 'switchboard:app/presence@0.1.3'; // export switchboard:app/presence@0.1.3
  export * as timerHandler from 'switchboard:app/timer-handler@0.1.3'; // export switchboard:app/timer-handler@0.1.3
  export * as feedHandler from 'switchboard:app/feed-handler@0.1.3'; // export switchboard:app/feed-handler@0.1.3
  export * as lifecycle from 'switchboard:app/lifecycle@0.1.3'; // export switchboard:app/lifecycle@0.1.3
  export * as handler from 'switchboard:app/handler@0.1.3'; // export switchboard:app/handler@0.1.3
}
