// Package webhookset keeps the gateway's webhooks: those of the config file,
// read-only, and those created at run time through the admin API or the
// console, stored as JSON definitions (Spec) in the store and run by the
// delivery engine.
//
// Stored webhooks, and the definitions given to Compile and Test (previews
// and test sends), are parsed by config.ParseRuntimeWebhook: their ${VAR}
// and env("VAR") may read only the environment variables of the config's
// webhook_env, so that the admin token does not give away the gateway's
// other variables (the store URL, ARI passwords).
//
// Load adds the stored webhooks to the engine at start; a stored webhook
// whose definition no longer loads (a ${VAR} it needs is unset or not in
// webhook_env, or the config file now uses its name) is logged and skipped,
// and listed with Entry.Err. Create, Update and Delete write the store first and then change
// the engine (undoing the store write when the engine refuses). Run re-reads
// the store every few seconds so that gateways sharing a store converge: a
// change made through one reaches the others' engines within one period.
// The store is the truth: a definition that changed in the store but does
// not load here is removed from this engine rather than kept stale. One
// the engine refused is tried again at each Run period.
//
// People see a Spec through Spec.Redacted: secrets, the URL's userinfo and
// secret-named query values, and the expressions of sensitive headers
// (Authorization, X-Api-Key, ...) are shown as "•••". Update, Test and
// Compile given such a spec back take the hidden values from the stored
// webhook of that name, so a definition can be read, changed and written
// back without handling its credentials.
//
// Names are unique across the config file and the store, but the check and
// the write are not one transaction: two gateways creating the same name at
// the same instant both succeed, and the later write wins.
package webhookset
