// The BEP44 helpers are shared with the API: they live in libs/shared.
export * from '@mesh/shared';
