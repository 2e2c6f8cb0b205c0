/** Install outcomes an endpoint can report for a package (the label values of sluice_reports_total). */
export const REPORT_STATUSES = ['succeeded', 'succeeded-reboot', 'failed', 'cancelled', 'declined', 'pending', 'not-applicable'] as const;
export type ReportStatus = (typeof REPORT_STATUSES)[number];
