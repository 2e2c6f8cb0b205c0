/** An advisory id as vendors write them (RHSA-2024:1234, FEDORA-2024-0123abcd, ALSA-2024:5678): what the API and the console accept. */
export const ADVISORY_ID = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/;
