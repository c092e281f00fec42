// Package file is a datasource.Source backed by one local file: the simplest
// config center, and the one Kubernetes ConfigMaps and most deployment tools
// produce.
//
// Watching uses fsnotify on the file's directory rather than on the file, so
// that every way a file gets replaced is seen: editors writing in place or
// renaming a new copy over it, delete and re-create, and the ConfigMap swap of
// the "..data" symlink. Events are debounced and the file is re-read; a snapshot
// is emitted only when its content hash changed.
//
// Writes are compare-and-set on the SHA-256 content hash, which is the
// snapshot's revision: under an exclusive lock the hash is checked, the new
// content is written to a temporary file in the same directory, synced and
// renamed over the target, and the directory is synced. Readers therefore
// never see a torn file. The lock is flock(2) on a sidecar file named
// ".<name>.lock" next to the file on Unix (it is left in place: deleting a
// flock file would let two writers lock different files); elsewhere the
// sidecar is created with O_EXCL and removed on unlock. In a repository, let
// version control ignore it (this repository's .gitignore has ".*.lock").
//
// Tools should replace the file by rename. A file written in place is briefly
// empty or partial; the debounce (WithDebounce) normally hides that, but a
// writer slower than the debounce can make an empty or unreadable state
// visible for a moment.
//
// When the path is a symlink, Write replaces the file it resolves to and keeps
// the link; Delete removes the link itself.
package file
