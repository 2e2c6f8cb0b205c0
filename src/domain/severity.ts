/** Package severities, most urgent first: the order of every queue, forecast and install list. */
export const SEVERITIES = ['critical', 'important', 'moderate', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Sort order: most urgent first (negative when `a` is more urgent). */
export const bySeverity = (a: Severity, b: Severity): number => SEVERITIES.indexOf(a) - SEVERITIES.indexOf(b);

/** The more urgent of two severities. */
export const mostUrgent = (a: Severity, b: Severity): Severity => (bySeverity(a, b) <= 0 ? a : b);
