/// <reference path="./interfaces/switchboard-app-app-info.d.ts" />
/// <reference path="./interfaces/switchboard-app-attachments.d.ts" />
/// <reference path="./interfaces/switchboard-app-connections.d.ts" />
/// <reference path="./interfaces/switchboard-app-handler.d.ts" />
/// <reference path="./interfaces/switchboard-app-lifecycle.d.ts" />
/// <reference path="./interfaces/switchboard-app-log.d.ts" />
/// <reference path="./interfaces/switchboard-app-presence.d.ts" />
/// <reference path="./interfaces/switchboard-app-topics.d.ts" />
/// <reference path="./interfaces/switchboard-app-types.d.ts" />
declare module 'switchboard:app/realtime-app@0.1.2' {
  export type * as SwitchboardAppAppInfo012 from 'switchboard:app/app-info@0.1.2'; // import switchboard:app/app-info@0.1.2
  export type * as SwitchboardAppAttachments012 from 'switchboard:app/attachments@0.1.2'; // import switchboard:app/attachments@0.1.2
  export type * as SwitchboardAppConnections012 from 'switchboard:app/connections@0.1.2'; // import switchboard:app/connections@0.1.2
  export type * as SwitchboardAppLog012 from 'switchboard:app/log@0.1.2'; // import switchboard:app/log@0.1.2
  export type * as SwitchboardAppTopics012 from 'switchboard:app/topics@0.1.2'; // import switchboard:app/topics@0.1.2
  export type * as SwitchboardAppTypes012 from 'switchboard:app/types@0.1.2'; // import switchboard:app/types@0.1.2
  export * as presence from 'switchboard:app/presence@0.1.2'; // export switchboard:app/presence@0.1.2
  export * as lifecycle from 'switchboard:app/lifecycle@0.1.2'; // export switchboard:app/lifecycle@0.1.2
  export * as handler from 'switchboard:app/handler@0.1.2'; // export switchboard:app/handler@0.1.2
}
