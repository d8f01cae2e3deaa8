package bundle

import "errors"

// ErrNoCatalog is wrapped when an inventory of a registry needs its
// catalog (no InventoryOptions.Repositories given) and the registry
// refuses to list its repositories, as many do but to administrators.
var ErrNoCatalog = errors.New("the registry does not list its repositories")
