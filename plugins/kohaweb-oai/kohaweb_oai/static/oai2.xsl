<?xml version="1.0" encoding="UTF-8"?>
<!--
  kohaweb's default stylesheet for OAI-PMH 2.0 responses (oai.stylesheet = default): a browser
  that opens a response shows it as a page. Every verb, the errors, the records' titles (oai_dc,
  MARCXML MARC21 and UNIMARC, MODS, else any element named title) and a link that follows the
  resumption token. Harvesters ignore it: the response itself is unchanged.
  XSLT 1.0 (what browsers run); no external resources. GPL-3.0-or-later, part of kohaweb-oai.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:oai="http://www.openarchives.org/OAI/2.0/"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:marc="http://www.loc.gov/MARC21/slim"
    xmlns:mods="http://www.loc.gov/mods/v3"
    xmlns:id="http://www.openarchives.org/OAI/2.0/oai-identifier"
    exclude-result-prefixes="oai oai_dc dc marc mods id">

  <xsl:output method="html" encoding="UTF-8" indent="no"
              doctype-system="about:legacy-compat"/>

  <xsl:variable name="base" select="normalize-space(/oai:OAI-PMH/oai:request)"/>
  <xsl:variable name="verb" select="/oai:OAI-PMH/oai:request/@verb"/>
  <!-- the prefix records are asked in: the request's; on a page asked by resumption token (the token
       is opaque) the usual prefix of the records' namespace; else oai_dc, which every repository has -->
  <xsl:variable name="payload" select="namespace-uri((/oai:OAI-PMH/*/oai:record/oai:metadata/*)[1])"/>
  <xsl:variable name="prefix">
    <xsl:choose>
      <xsl:when test="/oai:OAI-PMH/oai:request/@metadataPrefix">
        <xsl:value-of select="/oai:OAI-PMH/oai:request/@metadataPrefix"/>
      </xsl:when>
      <xsl:when test="$payload = 'http://www.loc.gov/MARC21/slim'">marcxml</xsl:when>
      <xsl:when test="$payload = 'http://www.loc.gov/mods/v3'">mods</xsl:when>
      <xsl:otherwise>oai_dc</xsl:otherwise>
    </xsl:choose>
  </xsl:variable>

  <xsl:template match="/">
    <html lang="en">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>
          <xsl:text>OAI-PMH </xsl:text>
          <xsl:choose>
            <xsl:when test="oai:OAI-PMH/oai:error">error</xsl:when>
            <xsl:otherwise><xsl:value-of select="$verb"/></xsl:otherwise>
          </xsl:choose>
        </title>
        <style>
          body { font: 16px/1.45 system-ui, sans-serif; margin: 0; color: #1d2327; background: #fff; }
          header, main { max-width: 62rem; margin: 0 auto; padding: 0 1rem; }
          header { border-bottom: 1px solid #ccd0d4; padding-top: .5rem; padding-bottom: .5rem; }
          nav ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
          a { color: #0b57a4; }
          a:focus { outline: 2px solid #0b57a4; outline-offset: 2px; }
          h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 1.5rem; }
          table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
          th, td { text-align: left; vertical-align: top; border-bottom: 1px solid #e2e4e7; padding: .3rem .5rem; }
          th { background: #f6f7f7; }
          code, .wrap, td { overflow-wrap: anywhere; }
          .record { border: 1px solid #ccd0d4; border-radius: 4px; padding: .5rem 1rem; margin: 1rem 0; }
          .record h3 { margin: .25rem 0; font-size: 1.1rem; }
          .deleted { color: #8a2424; font-weight: bold; }
          .error { border-left: 4px solid #b32d2e; background: #fcf0f1; padding: .5rem 1rem; }
          .meta { color: #50575e; font-size: .9rem; }
          .more { font-size: 1.1rem; margin: 1.5rem 0; }
          details summary { cursor: pointer; }
        </style>
      </head>
      <body>
        <header>
          <nav aria-label="OAI-PMH verbs">
            <ul>
              <li><a href="{$base}?verb=Identify">Identify</a></li>
              <li><a href="{$base}?verb=ListMetadataFormats">Metadata formats</a></li>
              <li><a href="{$base}?verb=ListSets">Sets</a></li>
              <li><a href="{$base}?verb=ListIdentifiers&amp;metadataPrefix=oai_dc">Identifiers</a></li>
              <li><a href="{$base}?verb=ListRecords&amp;metadataPrefix=oai_dc">Records</a></li>
            </ul>
          </nav>
        </header>
        <main>
          <xsl:apply-templates select="oai:OAI-PMH"/>
        </main>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="oai:OAI-PMH">
    <h1>
      <xsl:text>OAI-PMH: </xsl:text>
      <xsl:choose>
        <xsl:when test="$verb"><xsl:value-of select="$verb"/></xsl:when>
        <xsl:otherwise>bad request</xsl:otherwise>
      </xsl:choose>
    </h1>
    <p class="meta">
      <xsl:text>Response of </xsl:text><xsl:value-of select="oai:responseDate"/>
      <xsl:text> to </xsl:text><code><xsl:value-of select="$base"/></code>
      <xsl:for-each select="oai:request/@*">
        <xsl:text> </xsl:text><code><xsl:value-of select="name()"/>=<xsl:value-of select="."/></code>
      </xsl:for-each>
    </p>
    <xsl:apply-templates select="oai:error[1]"/>
    <xsl:apply-templates select="oai:Identify | oai:ListMetadataFormats | oai:ListSets | oai:ListIdentifiers
                                 | oai:ListRecords | oai:GetRecord"/>
  </xsl:template>

  <!-- errors: all of them in one list -->
  <xsl:template match="oai:error">
    <section class="error" aria-labelledby="errors">
      <h2 id="errors">Error</h2>
      <ul>
        <xsl:for-each select="../oai:error">
          <li><code><xsl:value-of select="@code"/></code><xsl:text>: </xsl:text><xsl:value-of select="."/></li>
        </xsl:for-each>
      </ul>
    </section>
  </xsl:template>

  <xsl:template match="oai:Identify">
    <table>
      <caption class="meta">Repository</caption>
      <tbody>
        <xsl:for-each select="oai:*[local-name() != 'description']">
          <tr><th scope="row"><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
        </xsl:for-each>
        <xsl:for-each select="oai:description/id:oai-identifier/id:*">
          <tr><th scope="row"><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
        </xsl:for-each>
      </tbody>
    </table>
    <xsl:for-each select="oai:description[not(id:oai-identifier)]">
      <details><summary>Description</summary><xsl:apply-templates select="*" mode="generic"/></details>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="oai:ListMetadataFormats">
    <table>
      <thead><tr><th scope="col">Prefix</th><th scope="col">Schema</th><th scope="col">Namespace</th></tr></thead>
      <tbody>
        <xsl:for-each select="oai:metadataFormat">
          <tr>
            <td><a href="{$base}?verb=ListRecords&amp;metadataPrefix={oai:metadataPrefix}">
              <xsl:value-of select="oai:metadataPrefix"/></a></td>
            <td><xsl:value-of select="oai:schema"/></td>
            <td><xsl:value-of select="oai:metadataNamespace"/></td>
          </tr>
        </xsl:for-each>
      </tbody>
    </table>
  </xsl:template>

  <xsl:template match="oai:ListSets">
    <table>
      <thead><tr><th scope="col">Set</th><th scope="col">Name</th><th scope="col">Description</th></tr></thead>
      <tbody>
        <xsl:for-each select="oai:set">
          <tr>
            <td><a>
              <xsl:attribute name="href">
                <xsl:value-of select="$base"/><xsl:text>?verb=ListRecords&amp;metadataPrefix=oai_dc&amp;set=</xsl:text>
                <xsl:call-template name="encode"><xsl:with-param name="text" select="oai:setSpec"/></xsl:call-template>
              </xsl:attribute>
              <code><xsl:value-of select="oai:setSpec"/></code></a></td>
            <td><xsl:value-of select="oai:setName"/></td>
            <td><xsl:for-each select="oai:setDescription//dc:description">
              <xsl:value-of select="."/><xsl:if test="position() != last()"><br/></xsl:if>
            </xsl:for-each></td>
          </tr>
        </xsl:for-each>
      </tbody>
    </table>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:ListIdentifiers">
    <table>
      <thead><tr><th scope="col">Identifier</th><th scope="col">Datestamp</th><th scope="col">Sets</th></tr></thead>
      <tbody>
        <xsl:for-each select="oai:header">
          <tr>
            <td><xsl:call-template name="record-link"/>
              <xsl:if test="@status = 'deleted'"> <span class="deleted">(deleted)</span></xsl:if></td>
            <td><xsl:value-of select="oai:datestamp"/></td>
            <td><xsl:call-template name="set-links"/></td>
          </tr>
        </xsl:for-each>
      </tbody>
    </table>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:ListRecords | oai:GetRecord">
    <xsl:apply-templates select="oai:record"/>
    <xsl:apply-templates select="oai:resumptionToken"/>
  </xsl:template>

  <xsl:template match="oai:record">
    <article class="record">
      <h3>
        <xsl:choose>
          <xsl:when test="oai:header/@status = 'deleted'"><span class="deleted">Deleted record</span></xsl:when>
          <xsl:otherwise><xsl:call-template name="title"><xsl:with-param name="metadata" select="oai:metadata/*"/></xsl:call-template></xsl:otherwise>
        </xsl:choose>
      </h3>
      <p class="meta">
        <xsl:for-each select="oai:header"><xsl:call-template name="record-link"/>
          <xsl:text> · </xsl:text><xsl:value-of select="oai:datestamp"/>
          <xsl:if test="oai:setSpec"><xsl:text> · sets: </xsl:text><xsl:call-template name="set-links"/></xsl:if>
        </xsl:for-each>
      </p>
      <xsl:for-each select="oai:metadata/*">
        <details>
          <summary>Metadata (<xsl:value-of select="$prefix"/>)</summary>
          <xsl:apply-templates select="." mode="metadata"/>
        </details>
      </xsl:for-each>
    </article>
  </xsl:template>

  <!-- the title of a record in the usual formats -->
  <xsl:template name="title">
    <xsl:param name="metadata"/>
    <xsl:variable name="marc" select="$metadata/descendant-or-self::marc:record[1]"/>
    <xsl:choose>
      <xsl:when test="$metadata/descendant-or-self::dc:title">
        <xsl:value-of select="$metadata/descendant-or-self::dc:title[1]"/>
      </xsl:when>
      <xsl:when test="$marc/marc:datafield[@tag='245']">
        <xsl:for-each select="$marc/marc:datafield[@tag='245'][1]/marc:subfield[@code='a' or @code='b' or @code='n' or @code='p']">
          <xsl:if test="position() != 1"><xsl:text> </xsl:text></xsl:if><xsl:value-of select="."/>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$marc/marc:datafield[@tag='200']">
        <xsl:for-each select="$marc/marc:datafield[@tag='200'][1]/marc:subfield[@code='a' or @code='e']">
          <xsl:if test="position() != 1"><xsl:text> : </xsl:text></xsl:if><xsl:value-of select="."/>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$metadata/descendant-or-self::mods:titleInfo/mods:title">
        <xsl:value-of select="$metadata/descendant-or-self::mods:titleInfo[mods:title][1]/mods:title"/>
        <xsl:for-each select="$metadata/descendant-or-self::mods:titleInfo[mods:title][1]/mods:subTitle">
          <xsl:text>: </xsl:text><xsl:value-of select="."/>
        </xsl:for-each>
      </xsl:when>
      <xsl:when test="$metadata//*[local-name() = 'title']">
        <xsl:value-of select="$metadata//*[local-name() = 'title'][1]"/>
      </xsl:when>
      <xsl:otherwise>(untitled)</xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="record-link">
    <a>
      <xsl:attribute name="href">
        <xsl:value-of select="$base"/><xsl:text>?verb=GetRecord&amp;metadataPrefix=</xsl:text>
        <xsl:call-template name="encode"><xsl:with-param name="text" select="$prefix"/></xsl:call-template>
        <xsl:text>&amp;identifier=</xsl:text>
        <xsl:call-template name="encode"><xsl:with-param name="text" select="oai:identifier"/></xsl:call-template>
      </xsl:attribute>
      <code><xsl:value-of select="oai:identifier"/></code>
    </a>
  </xsl:template>

  <xsl:template name="set-links">
    <xsl:for-each select="oai:setSpec">
      <xsl:if test="position() != 1"><xsl:text>, </xsl:text></xsl:if>
      <a>
        <xsl:attribute name="href">
          <xsl:value-of select="$base"/><xsl:text>?verb=</xsl:text>
          <xsl:choose><xsl:when test="$verb = 'ListIdentifiers'">ListIdentifiers</xsl:when><xsl:otherwise>ListRecords</xsl:otherwise></xsl:choose>
          <xsl:text>&amp;metadataPrefix=</xsl:text>
          <xsl:call-template name="encode"><xsl:with-param name="text" select="$prefix"/></xsl:call-template>
          <xsl:text>&amp;set=</xsl:text>
          <xsl:call-template name="encode"><xsl:with-param name="text" select="."/></xsl:call-template>
        </xsl:attribute>
        <code><xsl:value-of select="."/></code>
      </a>
    </xsl:for-each>
  </xsl:template>

  <!-- the next page: a link that sends the token back with the verb (the only other argument allowed) -->
  <xsl:template match="oai:resumptionToken">
    <p class="more">
      <xsl:if test="@completeListSize">
        <xsl:value-of select="@completeListSize"/><xsl:text> in the list</xsl:text>
        <xsl:if test="@cursor">
          <xsl:text>, this page from position </xsl:text><xsl:value-of select="@cursor + 1"/>
        </xsl:if>
        <xsl:text>. </xsl:text>
      </xsl:if>
      <xsl:choose>
        <xsl:when test="normalize-space(.)">
          <a rel="next" class="next">
            <xsl:attribute name="href">
              <xsl:value-of select="$base"/><xsl:text>?verb=</xsl:text><xsl:value-of select="$verb"/>
              <xsl:text>&amp;resumptionToken=</xsl:text>
              <xsl:call-template name="encode"><xsl:with-param name="text" select="normalize-space(.)"/></xsl:call-template>
            </xsl:attribute>
            <xsl:text>Next page</xsl:text>
          </a>
        </xsl:when>
        <xsl:otherwise>End of the list.</xsl:otherwise>
      </xsl:choose>
    </p>
  </xsl:template>

  <!-- metadata: Dublin Core as a table, MARCXML as fields, anything else generically -->
  <xsl:template match="oai_dc:dc" mode="metadata">
    <table><tbody>
      <xsl:for-each select="*">
        <tr><th scope="row"><xsl:value-of select="local-name()"/></th><td><xsl:value-of select="."/></td></tr>
      </xsl:for-each>
    </tbody></table>
  </xsl:template>

  <xsl:template match="marc:record" mode="metadata">
    <table><tbody>
      <tr><th scope="row">LDR</th><td><code><xsl:value-of select="marc:leader"/></code></td></tr>
      <xsl:for-each select="marc:controlfield">
        <tr><th scope="row"><xsl:value-of select="@tag"/></th><td><code><xsl:value-of select="."/></code></td></tr>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield">
        <tr>
          <th scope="row"><xsl:value-of select="@tag"/>
            <xsl:text> </xsl:text><xsl:value-of select="translate(concat(@ind1, @ind2), ' ', '_')"/></th>
          <td><xsl:for-each select="marc:subfield">
            <b>$<xsl:value-of select="@code"/></b><xsl:text> </xsl:text><xsl:value-of select="."/><xsl:text> </xsl:text>
          </xsl:for-each></td>
        </tr>
      </xsl:for-each>
    </tbody></table>
  </xsl:template>

  <xsl:template match="marc:collection" mode="metadata">
    <xsl:apply-templates select="marc:record" mode="metadata"/>
  </xsl:template>

  <xsl:template match="*" mode="metadata">
    <xsl:apply-templates select="." mode="generic"/>
  </xsl:template>

  <!-- any XML: each element that has text, as name and value -->
  <xsl:template match="*" mode="generic">
    <table><tbody>
      <xsl:for-each select="descendant-or-self::*[text()[normalize-space()]]">
        <tr>
          <th scope="row"><xsl:value-of select="local-name()"/></th>
          <td><xsl:value-of select="normalize-space(text()[normalize-space()][1])"/></td>
        </tr>
      </xsl:for-each>
    </tbody></table>
  </xsl:template>

  <!-- percent-encodes what would break a query string argument (XSLT 1.0 has no encode-for-uri) -->
  <xsl:variable name="unsafe">%&amp;+#?=/;" &lt;&gt;</xsl:variable>
  <xsl:template name="encode">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="translate($text, $unsafe, '') = $text"><xsl:value-of select="$text"/></xsl:when>
      <xsl:otherwise>
        <xsl:variable name="c" select="substring($text, 1, 1)"/>
        <xsl:choose>
          <xsl:when test="$c = '%'">%25</xsl:when>
          <xsl:when test="$c = '&amp;'">%26</xsl:when>
          <xsl:when test="$c = '+'">%2B</xsl:when>
          <xsl:when test="$c = '#'">%23</xsl:when>
          <xsl:when test="$c = '?'">%3F</xsl:when>
          <xsl:when test="$c = '='">%3D</xsl:when>
          <xsl:when test="$c = '/'">%2F</xsl:when>
          <xsl:when test="$c = ';'">%3B</xsl:when>
          <xsl:when test="$c = '&quot;'">%22</xsl:when>
          <xsl:when test="$c = ' '">%20</xsl:when>
          <xsl:when test="$c = '&lt;'">%3C</xsl:when>
          <xsl:when test="$c = '&gt;'">%3E</xsl:when>
          <xsl:otherwise><xsl:value-of select="$c"/></xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="encode"><xsl:with-param name="text" select="substring($text, 2)"/></xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
