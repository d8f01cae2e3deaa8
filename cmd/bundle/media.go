package main

import (
	"sort"
)

// mediaPresets are the --media volume sizes: the capacity of the smallest
// common disc of each kind in 2048-byte sectors, less room for the file
// system (ISO 9660/UDF): 2048 sectors (4 MiB) on a CD, 8192 sectors
// (16 MiB) on the others. fat32 is the largest file FAT32 can hold.
var mediaPresets = map[string]int64{
	"cd":     (360_000 - 2048) * 2048,    // 80-minute CD-R: 733,085,696
	"dvd":    (2_295_104 - 8192) * 2048,  // DVD+R: 4,683,595,776
	"dvd-dl": (4_171_712 - 8192) * 2048,  // DVD-R DL: 8,526,888,960
	"bd":     (12_219_392 - 8192) * 2048, // BD-R 25 GB: 25,008,537,600
	"bd-dl":  (24_438_784 - 8192) * 2048, // BD-R DL 50 GB: 50,033,852,416
	"fat32":  4*1024*1024*1024 - 1,       // 4 GiB - 1 byte
}

// mediaNames lists the presets from the smallest up, for help and errors.
func mediaNames() []string {
	var out []string
	for k := range mediaPresets {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return mediaPresets[out[i]] < mediaPresets[out[j]] })
	return out
}
