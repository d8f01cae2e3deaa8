package bundle

import "github.com/airgap-bundle/bundle/format"

// Transitional names for the types and constants that moved to package
// format; callers should use format's.
type (
	Index        = format.Index
	Signer       = format.Signer
	Base         = format.Base
	Content      = format.Content
	Image        = format.Image
	Blob         = format.Blob
	Placement    = format.Placement
	Volume       = format.Volume
	VolumeHeader = format.VolumeHeader
	CorruptError = format.CorruptError
	// VolumeSizeError is a volume size limit the bundle cannot be cut to
	// (PackOptions.MaxVolumeSize); it is ErrTooSmall.
	VolumeSizeError = format.VolumeSizeError
)

const (
	MediaTypeIndex   = format.MediaTypeIndex
	FormatVersion    = format.Version
	MemberLayout     = format.MemberLayout
	MemberOCIIndex   = format.MemberOCIIndex
	MemberIndex      = format.MemberIndex
	MemberSignature  = format.MemberSignature
	MemberVolume     = format.MemberVolume
	MaxIndexSize     = format.MaxIndexSize
	MaxOCIIndexSize  = format.MaxOCIIndexSize
	MaxSignatureSize = format.MaxSignatureSize
	MaxMemberSize    = format.MaxMemberSize
	CompressionNone  = format.CompressionNone
	CompressionZstd  = format.CompressionZstd
)

var (
	ParseIndex          = format.ParseIndex
	MemberName          = format.MemberName
	VolumeFileName      = format.VolumeFileName
	IsVolumeFileName    = format.IsVolumeFileName
	IsManifestMediaType = format.IsManifestMediaType
	ReadVolumeHeader    = format.ReadVolumeHeader
	ErrNotVolume        = format.ErrNotVolume
	// ErrTooSmall is wrapped when the volume size cannot hold the index
	// and anything else.
	ErrTooSmall = format.ErrTooSmall
)
