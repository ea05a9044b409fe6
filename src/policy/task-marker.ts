// The hidden marker that opens every progress comment (src/publish/progress.ts writes it, with the
// task id and ` -->` after it). It also marks text as the bot's own: text carrying it never starts
// a task, whoever posted it. Pure.

export const TASK_MARKER = "<!-- devs-webhook:task=";

export const carriesTaskMarker = (text: string | null | undefined): boolean => !!text?.includes(TASK_MARKER);
