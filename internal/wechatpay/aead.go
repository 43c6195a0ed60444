package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
)

// AEADAlgorithm is the only algorithm WeChat Pay seals resources with in
// APIv3, the platform certificate download's encrypt_certificate included.
const AEADAlgorithm = "AEAD_AES_256_GCM"

// APIv3 key and AEAD_AES_256_GCM sizes, as WeChat Pay fixes them.
const (
	apiv3KeySize = 32 // AES-256: the APIv3 key's 32 bytes are the key
	gcmNonceSize = 12 // the nonce string's 12 bytes, used as they are
)

// DecryptAEADAES256GCM opens a resource WeChat Pay sealed with
// AEAD_AES_256_GCM under the merchant's APIv3 key: the key is the APIv3 key's
// 32 bytes, the nonce the nonce string's 12 bytes, associatedData is
// authenticated but not encrypted, and ciphertextBase64 is the standard
// base64 of the sealed bytes with the 16-byte GCM tag at their end.
//
// It fails when the key or nonce has the wrong length, the ciphertext is not
// base64, or authentication fails (wrong key, wrong associated data, or
// tampered ciphertext). Its errors never carry the key or the plaintext.
func DecryptAEADAES256GCM(apiv3Key, nonce, associatedData, ciphertextBase64 string) ([]byte, error) {
	if len(apiv3Key) != apiv3KeySize {
		return nil, fmt.Errorf("decrypt %s: the APIv3 key is %d bytes, want %d", AEADAlgorithm, len(apiv3Key), apiv3KeySize)
	}
	if len(nonce) != gcmNonceSize {
		// cipher.AEAD.Open panics on a nonce of the wrong size.
		return nil, fmt.Errorf("decrypt %s: the nonce is %d bytes, want %d", AEADAlgorithm, len(nonce), gcmNonceSize)
	}
	sealed, err := base64.StdEncoding.DecodeString(ciphertextBase64)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: the ciphertext is not base64: %w", AEADAlgorithm, err)
	}
	block, err := aes.NewCipher([]byte(apiv3Key))
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", AEADAlgorithm, err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("decrypt %s: %w", AEADAlgorithm, err)
	}
	plain, err := gcm.Open(nil, []byte(nonce), sealed, []byte(associatedData))
	if err != nil {
		// Open says no more than "message authentication failed"; say which
		// causes that covers, since the three look alike from here.
		return nil, errors.New("decrypt " + AEADAlgorithm + ": authentication failed (wrong APIv3 key, wrong associated data, or tampered ciphertext)")
	}
	return plain, nil
}
