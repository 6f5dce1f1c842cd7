package main

import (
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"
)

// writeConfigYAML writes c as a YAML document whose keys are the
// configuration keys in field order, so the output can be given back with
// --config. Durations are written as Go duration strings ("1s").
func writeConfigYAML(w io.Writer, c config) error {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range settingsOf(c) {
		value := s.value
		if d, ok := value.(time.Duration); ok {
			value = d.String()
		}
		var k, v yaml.Node
		k.SetString(s.key)
		if err := v.Encode(value); err != nil {
			return fmt.Errorf("encoding %s: %w", s.key, err)
		}
		doc.Content = append(doc.Content, &k, &v)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	return nil
}
